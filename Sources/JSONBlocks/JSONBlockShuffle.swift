#if arch(x86_64)
import _Builtin_intrinsics.intel
import _Builtin_intrinsics.intel.cpuid

/// The fast path of the JSON string scan for JSON-shaped log lines on x86-64: 16-byte blocks
/// whose only escapes are `\"` (or `\/`) lose their backslashes in one shuffle (`pshufb`)
/// instead of one trip through `BridgeCore.JSONStringScan`'s block loop per escape.
///
/// Why a target of its own: `pshufb` is SSSE3, outside the x86-64 baseline, and Swift compiles
/// clang's intrinsic only into a module built with SSSE3 (without it the compiler stops with
/// "Cannot select: X86ISD::PSHUFB"; clang's per-function `target("ssse3")` is not honoured).
/// This target is built with `-Xcc -mssse3` (Package.swift), so anything in it may use SSSE3:
/// it holds nothing but this loop, which is called only where ``isAvailable`` says the CPU has
/// SSSE3 (Intel CPUs since 2006 and AMD since 2011 have it). Measured on its own against the
/// block loop alone: 121–130 → 92–97 ns per line of the bench's shapes (docs/performance.md).
public enum JSONBlockShuffle {
    /// Whether this CPU has SSSE3 (CPUID leaf 1, ECX bit 9).
    public static let isAvailable: Bool = {
        var eax: UInt32 = 0
        var ebx: UInt32 = 0
        var ecx: UInt32 = 0
        var edx: UInt32 = 0
        guard __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 else { return false }
        return ecx & (1 << 9) != 0
    }()

    /// For each 8-bit mask of bytes to drop, the `pshufb` control that packs the bytes kept
    /// (their indices, in order) to the front of an 8-byte half; the rest is 0x80 (zero).
    private static let packControls: [UInt64] = (0..<256).map { (mask: Int) -> UInt64 in
        var control: UInt64 = 0x8080_8080_8080_8080
        var kept = 0
        for index in 0..<8 where mask & (1 << index) == 0 {
            control &= ~(0xFF << (8 * UInt64(kept)))
            control |= UInt64(index) << (8 * UInt64(kept))
            kept += 1
        }
        return control
    }

    /// Copies string bytes from `base + position` to `out + count` in 16-byte blocks, dropping
    /// the backslash of each `\"` and `\/`, while every byte of a block is plain or part of such
    /// an escape. Stops, with fewer than 32 bytes left or at the first block it cannot take
    /// whole (a closing quote, another escape, a control character, non-ASCII), and leaves that
    /// block to the caller. A backslash in a block's last byte is left for the next block.
    ///
    /// The same bounds as the caller's block loop: every load ends 16 bytes before `end`, and
    /// `count` never passes the input consumed, so the stores stay within an output buffer as
    /// long as the input.
    ///
    /// - Precondition: ``isAvailable``.
    @inline(never)
    public static func copyUnescaping(
        _ base: UnsafePointer<UInt8>, _ position: inout Int, end: Int,
        into out: UnsafeMutablePointer<UInt8>, _ count: inout Int
    ) {
        packControls.withUnsafeBufferPointer { controls in
            while position + 32 <= end {
                let bytes = _mm_loadu_si128(UnsafeRawPointer(base + position).assumingMemoryBound(to: __m128i.self))
                let quotes = _mm_cmpeq_epi8(bytes, _mm_set1_epi8(0x22))
                let backslashBytes = _mm_cmpeq_epi8(bytes, _mm_set1_epi8(0x5C))
                let belowSpace = _mm_cmplt_epi8(bytes, _mm_set1_epi8(0x20))  // and 0x80 and up
                let attention = mask(_mm_or_si128(_mm_or_si128(quotes, backslashBytes), belowSpace))
                let target = UnsafeMutableRawPointer(out + count).assumingMemoryBound(to: __m128i.self)
                if attention == 0 {
                    _mm_storeu_si128(target, bytes)
                    count += 16
                    position += 16
                    continue
                }
                let backslashes = mask(backslashBytes)
                // The bytes right after a backslash, within the block (one in the last byte
                // escapes a byte of the next block, which starts at that backslash).
                let escaped = (backslashes & 0x7FFF) << 1
                let quoteOrSlash = mask(_mm_or_si128(quotes, _mm_cmpeq_epi8(bytes, _mm_set1_epi8(0x2F))))
                guard backslashes & escaped == 0,  // no escaped backslash
                    attention & ~(backslashes | escaped) == 0,  // nothing else needs attention
                    escaped & ~quoteOrSlash == 0  // only \" and \/
                else { return }
                let low = Int(backslashes & 0xFF)
                let high = Int(backslashes >> 8)
                let control = _mm_set_epi64x(
                    Int64(bitPattern: controls[high] | 0x0808_0808_0808_0808), Int64(bitPattern: controls[low]))
                let packed = _mm_shuffle_epi8(bytes, control)
                _mm_storel_epi64(target, packed)
                count += 8 - low.nonzeroBitCount
                _mm_storel_epi64(
                    UnsafeMutableRawPointer(out + count).assumingMemoryBound(to: __m128i.self),
                    _mm_unpackhi_epi64(packed, packed))
                count += 8 - high.nonzeroBitCount
                position += 16 - Int(backslashes >> 15)
            }
        }
    }

    @inline(__always)
    private static func mask(_ bytes: __m128i) -> UInt32 {
        UInt32(truncatingIfNeeded: _mm_movemask_epi8(bytes))
    }
}
#endif
