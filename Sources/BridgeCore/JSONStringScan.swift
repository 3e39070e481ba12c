import CJSONBlockShuffle

#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

/// The inner loops of reading a JSON string's bytes: 16 at a time with SSE2 on x86-64 (part of
/// the x86-64 baseline, so no run-time check), blocks of escaped quotes in one SSSE3 shuffle
/// where the CPU has it (`kafka_loki_json_shuffle_blocks`, C target `CJSONBlockShuffle`), then,
/// near the end of the input and on other architectures, eight at a time in a word.
///
/// Why intrinsics: the string scan of JSON log lines was a third of the poll thread's time
/// (docs/performance.md, "What would close the gap"), and Swift's generic `SIMD16` was not
/// lowered to vector instructions here. Clang's intrinsics, imported from its builtin headers,
/// compile to one instruction each: `pcmpeqb`, `pcmpgtb`, `pmovmskb`.
///
/// A byte needs attention inside a string when it is `"`, `\`, a control character (below
/// 0x20) or not ASCII (0x80 and up). The scans stop at such a byte (the copying 16-byte loop
/// only at one it cannot take itself: see ``copyUnescaping(_:_:end:into:_:shuffling:)``), or
/// fewer than eight bytes before the end; the callers go on with their byte loops from there.
package enum JSONStringScan {
    /// Whether ``copyUnescaping(_:_:end:into:_:shuffling:)`` may hand blocks to the SSSE3
    /// shuffle (x86-64 with SSSE3; CPUID, asked once). Read once per record by the transcoder.
    package static let shuffleAvailable = kafka_loki_cpu_has_ssse3() != 0

    /// Moves `position` past bytes that need no attention. Log lines are mostly such runs, and
    /// this loop is where JSON decoding spends its time.
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
        while position + 8 <= end {
            let special = attentionBytes(UnsafeRawPointer(base + position).loadUnaligned(as: UInt64.self))
            if special != 0 {
                position += special.trailingZeroBitCount >> 3
                return
            }
            position += 8
        }
    }

    /// ``skipPlain(_:_:end:)`` that also copies the bytes it passes to `out` at `count`, and,
    /// in the 16-byte loop, unescapes one-byte escapes (`\"`, `\\`, `\n`, …) on the way:
    /// JSON-shaped log lines carry one every few bytes; well-formed UTF-8 it copies as it is. It
    /// stops at any other byte that needs attention (the closing quote, `\u`, an invalid escape,
    /// a control character, ill-formed UTF-8); the word loop that takes over when fewer than 32
    /// bytes remain stops at every escape and every byte from 0x80.
    ///
    /// Each 16-byte block is examined once, and its escapes are taken from its mask one after
    /// the other. Re-reading the input right after each escape made every escape wait for the
    /// load, compare and bit scan of the one before: measured on lines of the bench's shape,
    /// 150 ns per line for that against 90–100 for this (docs/performance.md).
    ///
    /// Every run of plain bytes, at most 16, is copied with one 16-byte load and store, and
    /// `count` then moves by the run's length only (a run of UTF-8 whose last character ends in
    /// the next block can be up to three bytes longer: those are copied one by one). Safe
    /// because unescaping never lengthens a string: `count` stays at most the input consumed
    /// since the string's start, so a store ends within an output buffer as long as the input,
    /// and every load ends before `end`.
    ///
    /// With `shuffling` (only where ``shuffleAvailable``), a block whose escapes are all `\"` or
    /// `\/` is handed, with the blocks after it, to the SSSE3 shuffle, which drops their
    /// backslashes in one instruction per block; the block it stops at is taken here escape by
    /// escape. Blocks it could not take (other escapes, non-ASCII, the closing quote) never
    /// reach it: a call per such block made those lines slower.
    @inline(__always)
    static func copyUnescaping(
        _ base: UnsafePointer<UInt8>, _ position: inout Int, end: Int,
        into out: UnsafeMutablePointer<UInt8>, _ count: inout Int, shuffling: Bool
    ) {
        #if arch(x86_64)
        copyUnescapingBlocks(base, &position, end: end, into: out, &count, shuffling: shuffling)
        #endif
        copyPlainWords(base, &position, end: end, into: out, &count)
    }

    /// The word loop of ``copyUnescaping(_:_:end:into:_:shuffling:)``. Each word is stored
    /// whole before it is looked at, and `count` then moves by the plain bytes only: lines of
    /// JSON logs have an escape every few bytes, and a `memmove` call per short run cost more
    /// than the run.
    @inline(__always)
    private static func copyPlainWords(
        _ base: UnsafePointer<UInt8>, _ position: inout Int, end: Int,
        into out: UnsafeMutablePointer<UInt8>, _ count: inout Int
    ) {
        while position + 8 <= end {
            let word = UnsafeRawPointer(base + position).loadUnaligned(as: UInt64.self)
            UnsafeMutableRawPointer(out + count).storeBytes(of: word, as: UInt64.self)
            let special = attentionBytes(word)
            if special != 0 {
                let plain = special.trailingZeroBitCount >> 3
                position += plain
                count += plain
                return
            }
            position += 8
            count += 8
        }
    }

    /// The high bit of each byte of `word` (as loaded from memory) that needs attention in a
    /// string: `"`, `\`, below 0x20 or at least 0x80. Each term's lowest flagged byte is exact
    /// (borrows only run upwards), so the lowest set bit is the first such byte.
    @inline(__always)
    private static func attentionBytes(_ loaded: UInt64) -> UInt64 {
        let word = UInt64(littleEndian: loaded)
        let ones: UInt64 = 0x0101_0101_0101_0101
        let quote = word ^ (ones &* 0x22)
        let backslash = word ^ (ones &* 0x5C)
        let flagged =
            ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((word &- ones &* 0x20) & ~word) | word
        return flagged & 0x8080_8080_8080_8080
    }

    #if arch(x86_64)
    /// The 16-byte loop of ``copyUnescaping(_:_:end:into:_:shuffling:)``; stops with fewer than
    /// 32 bytes left.
    @inline(__always)
    private static func copyUnescapingBlocks(
        _ base: UnsafePointer<UInt8>, _ position: inout Int, end: Int,
        into out: UnsafeMutablePointer<UInt8>, _ count: inout Int, shuffling: Bool
    ) {
        // `start` is the first byte not yet copied; each block begins there.
        var start = position
        defer { position = start }
        // Locals, not the inout parameters, in the loop: they stay in registers across the
        // calls out of it (an inout behind a call was kept in memory and slowed the loop by a
        // tenth to a fifth).
        var written = count
        defer { count = written }
        while start + 32 <= end {
            let block = start
            let bytes = load(base + block)
            let backslashes = UInt32(truncatingIfNeeded: _mm_movemask_epi8(_mm_cmpeq_epi8(bytes, _mm_set1_epi8(0x5C))))
            var attention = UInt32(truncatingIfNeeded: attentionMask(bytes))
            if shuffling, attention != 0, kafka_loki_json_shuffle_may_take(attention, backslashes) != 0,
                onlyQuoteOrSlashEscapes(bytes, backslashes: backslashes, attention: attention)
            {
                var shuffled = written  // so that `written` itself never has its address taken
                start = kafka_loki_json_shuffle_blocks(base, start, end, out, &shuffled)
                written = shuffled
                continue
            }
            while attention != 0 {
                let index = attention.trailingZeroBitCount
                let at = block + index
                store(load(base + start), at: out + written)
                written += at - start
                start = at
                guard backslashes & (1 << index) != 0 else {
                    // Well-formed UTF-8 is copied as it is, so it joins the next plain run: text
                    // that is not ASCII (a bit for every byte of it) would otherwise leave the
                    // loop at every character. Checked here, where the loop would leave anyway,
                    // so that the escapes' path stays as it was.
                    guard base[at] >= 0x80,
                        case let after = UTF8Check.nonASCIIRunEnd(
                            UnsafeBufferPointer(start: base, count: end), from: at, limit: block + 16, end: end),
                        after > at
                    else { return }
                    if after <= block + 16 {
                        attention &= ~((1 << (after - block)) - 1)
                        continue
                    }
                    // Its last character ends in the next block, which then starts right after it.
                    // The run can be up to three bytes longer than one store (from the block's
                    // first byte into the next block).
                    store(load(base + at), at: out + written)
                    let length = after - at
                    for extra in 16..<max(16, length) { out[written + extra] = base[at + extra] }
                    written += length
                    start = after
                    break
                }
                // An escape at the block's last byte reads its second byte from the next block.
                let unit = oneByteEscape(base[at + 1])
                guard unit != 0 else { return }
                out[written] = unit
                written += 1
                start = at + 2
                // The escaped byte is no longer a quote or a backslash that needs attention.
                attention &= ~(3 << index)
            }
            let blockEnd = block + 16
            if start < blockEnd {
                store(load(base + start), at: out + written)
                written += blockEnd - start
                start = blockEnd
            }
        }
    }
    #endif

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
    /// Whether the SSSE3 shuffle takes this block whole: the rule is the C target's
    /// (`kafka_loki_json_shuffle_takes`), asked here so that blocks it would not take never pay
    /// for the call.
    @inline(__always)
    private static func onlyQuoteOrSlashEscapes(_ bytes: __m128i, backslashes: UInt32, attention: UInt32) -> Bool {
        let quoteOrSlash = UInt32(truncatingIfNeeded: _mm_movemask_epi8(_mm_or_si128(
            _mm_cmpeq_epi8(bytes, _mm_set1_epi8(0x22)), _mm_cmpeq_epi8(bytes, _mm_set1_epi8(0x2F)))))
        return kafka_loki_json_shuffle_takes(attention, backslashes, quoteOrSlash) != 0
    }

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
