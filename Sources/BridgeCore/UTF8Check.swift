/// UTF-8 well-formedness (Unicode Table 3-7: no overlong forms, no surrogates, ≤ U+10FFFF) and
/// character-boundary truncation, on raw bytes.
enum UTF8Check {
    /// Length of the well-formed sequence starting at `i` (before `end`), or 0 if there is none.
    static func sequenceLength(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int, end: Int) -> Int {
        func continuation(_ k: Int, _ range: ClosedRange<UInt8> = 0x80...0xBF) -> Bool {
            k < end && range.contains(bytes[k])
        }
        switch bytes[i] {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: return continuation(i + 1) ? 2 : 0
        case 0xE0: return continuation(i + 1, 0xA0...0xBF) && continuation(i + 2) ? 3 : 0
        case 0xE1...0xEC, 0xEE...0xEF: return continuation(i + 1) && continuation(i + 2) ? 3 : 0
        case 0xED: return continuation(i + 1, 0x80...0x9F) && continuation(i + 2) ? 3 : 0
        case 0xF0: return continuation(i + 1, 0x90...0xBF) && continuation(i + 2) && continuation(i + 3) ? 4 : 0
        case 0xF1...0xF3: return continuation(i + 1) && continuation(i + 2) && continuation(i + 3) ? 4 : 0
        case 0xF4: return continuation(i + 1, 0x80...0x8F) && continuation(i + 2) && continuation(i + 3) ? 4 : 0
        default: return 0
        }
    }

    /// True when `bytes[range]` is well-formed UTF-8.
    static func isValid(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        var k = range.lowerBound
        while k < range.upperBound {
            if bytes[k] < 0x80 {
                k += 1
                continue
            }
            let next = nonASCIIRunEnd(bytes, from: k, limit: range.upperBound, end: range.upperBound)
            if next == k { return false }
            k = next
        }
        return true
    }

    /// The end of the well-formed multi-byte characters from `i` on that begin before `limit`
    /// (each complete before `end`): the first byte that is ASCII, not well-formed UTF-8, or at
    /// or past `limit` where no character began; `i` itself when none is there.
    ///
    /// Out of line: the JSON line scan's 16-byte loop calls it once per run of such text in a
    /// block, and keeps its own loop small.
    @inline(never)
    static func nonASCIIRunEnd(_ bytes: UnsafeBufferPointer<UInt8>, from i: Int, limit: Int, end: Int) -> Int {
        var k = i
        while k < limit, bytes[k] >= 0x80 {
            let length = sequenceLength(bytes, at: k, end: end)
            if length == 0 { break }
            k += length
        }
        return k
    }

    /// The largest cut `≤ limit` that does not split a UTF-8 sequence of `bytes[range]`: the cut
    /// backs up over continuation bytes to the lead byte of the character it would split. If no
    /// lead byte is found within three bytes (not UTF-8 there anyway), the cut stays at `limit`.
    ///
    /// - Returns: the number of bytes to keep, from `range.lowerBound`.
    static func boundary(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, limit: Int) -> Int {
        guard range.count > limit else { return range.count }
        var cut = limit
        while cut > 0, cut > limit - 3, bytes[range.lowerBound + cut] & 0xC0 == 0x80 { cut -= 1 }
        // No lead byte within reach: not UTF-8 here, cut at the byte.
        if bytes[range.lowerBound + cut] & 0xC0 == 0x80 { return limit }
        return cut
    }
}
