#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

/// The inner loops of reading a JSON string's bytes, 16 at a time with SSE2 on x86-64 (part of
/// the x86-64 baseline, so no run-time check). Elsewhere they do nothing and the callers' 8-byte
/// word loops do the work.
///
/// Why intrinsics: the string scan of JSON log lines was a third of the poll thread's time
/// (docs/performance.md, "What would close the gap"), and Swift's generic `SIMD16` was not
/// lowered to vector instructions here. Clang's intrinsics, imported from its builtin headers,
/// compile to one instruction each: `pcmpeqb`, `pcmpgtb`, `pmovmskb`.
///
/// A byte needs attention inside a string when it is `"`, `\`, a control character (below
/// 0x20) or not ASCII (0x80 and up). Both loops may stop early; the callers go on with their
/// word and byte loops from wherever these stop.
enum JSONStringScan {
    /// Moves `position` past bytes that need no attention, while 16 bytes remain before `end`.
    @inline(__always)
    static func skipPlain(_ base: UnsafePointer<UInt8>, _ position: inout Int, end: Int) {
        #if arch(x86_64)
        while position + 16 <= end {
            let special = attentionMask(base + position)
            if special != 0 {
                position += Int(special.trailingZeroBitCount)
                return
            }
            position += 16
        }
        #endif
    }

    /// ``skipPlain(_:_:end:)`` that also copies the bytes it passes to `out` at `count`, and
    /// unescapes one-byte escapes (`\"`, `\\`, `\n`, …) on the way: JSON-shaped log lines carry
    /// one every few bytes. It stops at any other byte that needs attention (the closing quote,
    /// `\u`, an invalid escape, a control character, non-ASCII), or when fewer than 32 bytes
    /// remain before `end`.
    ///
    /// Each 16-byte block is examined once, and its escapes are taken from its mask one after
    /// the other. Re-reading the input right after each escape made every escape wait for the
    /// load, compare and bit scan of the one before: measured on lines of the bench's shape,
    /// 150 ns per line for that against 90–100 for this (docs/performance.md).
    ///
    /// Every run of plain bytes, at most 16, is copied with one 16-byte load and store, and
    /// `count` then moves by the run's length only. Safe because unescaping never lengthens a
    /// string: `count` stays at most the input consumed since the string's start, so a store
    /// ends within an output buffer as long as the input, and every load ends before `end`.
    @inline(__always)
    static func copyUnescaping(
        _ base: UnsafePointer<UInt8>, _ position: inout Int, end: Int,
        into out: UnsafeMutablePointer<UInt8>, _ count: inout Int
    ) {
        #if arch(x86_64)
        // `start` is the first byte not yet copied; each block begins there.
        var start = position
        defer { position = start }
        while start + 32 <= end {
            let block = start
            let bytes = load(base + block)
            let backslashes = UInt32(truncatingIfNeeded: _mm_movemask_epi8(_mm_cmpeq_epi8(bytes, _mm_set1_epi8(0x5C))))
            var attention = UInt32(truncatingIfNeeded: attentionMask(bytes))
            while attention != 0 {
                let index = attention.trailingZeroBitCount
                let at = block + index
                store(load(base + start), at: out + count)
                count += at - start
                start = at
                guard backslashes & (1 << index) != 0 else { return }
                // An escape at the block's last byte reads its second byte from the next block.
                let unit = oneByteEscape(base[at + 1])
                guard unit != 0 else { return }
                out[count] = unit
                count += 1
                start = at + 2
                // The escaped byte is no longer a quote or a backslash that needs attention.
                attention &= ~(3 << index)
            }
            let blockEnd = block + 16
            if start < blockEnd {
                store(load(base + start), at: out + count)
                count += blockEnd - start
                start = blockEnd
            }
        }
        #endif
    }

    /// The byte the one-byte escape `\X` stands for, by `X`; 0 for `u` and invalid escapes.
    /// (A switch, not a static table: a global's lazy-initialisation check on every escape cost
    /// 2 % of the bridge's JSON time in `swift_once`.)
    @inline(__always)
    static func oneByteEscape(_ byte: UInt8) -> UInt8 {
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): byte
        case UInt8(ascii: "b"): 0x08
        case UInt8(ascii: "f"): 0x0C
        case UInt8(ascii: "n"): 0x0A
        case UInt8(ascii: "r"): 0x0D
        case UInt8(ascii: "t"): 0x09
        default: 0
        }
    }

    #if arch(x86_64)
    @inline(__always)
    private static func load(_ pointer: UnsafePointer<UInt8>) -> __m128i {
        _mm_loadu_si128(UnsafeRawPointer(pointer).assumingMemoryBound(to: __m128i.self))
    }

    @inline(__always)
    private static func store(_ bytes: __m128i, at pointer: UnsafeMutablePointer<UInt8>) {
        _mm_storeu_si128(UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: __m128i.self), bytes)
    }

    @inline(__always)
    private static func attentionMask(_ pointer: UnsafePointer<UInt8>) -> Int32 {
        attentionMask(load(pointer))
    }

    /// One bit per byte of `block` (bit i for byte i) that needs attention. The signed compare
    /// with 0x20 flags control characters and, as negative numbers, every byte from 0x80.
    @inline(__always)
    private static func attentionMask(_ block: __m128i) -> Int32 {
        let quote = _mm_cmpeq_epi8(block, _mm_set1_epi8(0x22))
        let backslash = _mm_cmpeq_epi8(block, _mm_set1_epi8(0x5C))
        let belowSpace = _mm_cmplt_epi8(block, _mm_set1_epi8(0x20))
        return _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), belowSpace))
    }
    #endif
}
