import BridgeCore
import CJSONBlockShuffle
import Foundation
import Testing

/// The SSSE3 block shuffle on its own (`kafka_loki_json_shuffle_blocks`): the CPU check, what
/// it takes and leaves, and every mask of backslashes it can meet. (The transcoder's tests run
/// every body with and without it and compare.)
@Suite("CJSONBlockShuffle: blocks of escaped quotes in one shuffle")
struct JSONBlockShuffleTests {
    static let available = kafka_loki_cpu_has_ssse3() != 0

    @Test("the CPU check agrees with the kernel's CPU flags", .enabled(if: FileManager.default.fileExists(atPath: "/proc/cpuinfo")))
    func detection() throws {
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let flags = cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }
        #if arch(x86_64)
        let hasFlag = try #require(flags).split(separator: " ").contains("ssse3")
        #expect(Self.available == hasFlag)
        #else
        _ = flags
        #expect(!Self.available)
        #endif
    }

    /// Runs the shuffle over `bytes` followed by 32 quotes (which it must stop at), from 0.
    static func run(_ bytes: [UInt8]) -> (taken: Int, output: [UInt8]) {
        let input = bytes + Array(repeating: UInt8(ascii: "\""), count: 32)
        var count = 0
        let out = UnsafeMutablePointer<UInt8>.allocate(capacity: input.count)
        defer { out.deallocate() }
        let taken = input.withUnsafeBufferPointer { kafka_loki_json_shuffle_blocks($0.baseAddress!, 0, $0.count, out, &count) }
        return (taken, Array(UnsafeBufferPointer(start: out, count: count)))
    }

    static func run(_ text: String) -> (taken: Int, output: String) {
        let (taken, output) = run(Array(text.utf8))
        return (taken, String(decoding: output, as: UTF8.self))
    }

    /// JSON unescaping of `\"`, `\/` and `\\` by the byte (the reference).
    static func unescaped(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var result: [UInt8] = []
        var index = bytes.startIndex
        while index < bytes.endIndex {
            if bytes[index] == UInt8(ascii: "\\") { index += 1 }
            result.append(bytes[index])
            index += 1
        }
        return result
    }

    @Test("blocks of plain bytes, \\\" and \\/ are taken whole; the first other block is left", .enabled(if: available))
    func takesAndLeaves() {
        let blocks = [#"abcdefghijklmnop"#, #"\"a\"b\"c\"d\"ez"#, #"x\/y\"z\/w\"0123"#, #"ab\ncdefghijklmn"#]
        #expect(blocks.allSatisfy { $0.utf8.count == 16 })
        let (taken, output) = Self.run(blocks.joined())
        #expect(taken == 48)
        #expect(output == #"abcdefghijklmnop"a"b"c"d"ezx/y"z/w"0123"#)
        // Each kind of byte that needs attention stops it at its block.
        for stopper in [#"\\"#, #"\n"#, #"\u00e9"#, "\"", "\u{01}", "é"] {
            let second = #"\"1234"# + stopper + String(repeating: "z", count: 16 - 6 - stopper.utf8.count)
            #expect(second.utf8.count == 16)
            #expect(Self.run("0123456789abcdef" + second + "tail-tail-tail-t").taken == 16, "\(stopper)")
        }
    }

    @Test("a backslash in a block's last byte is left for the next block", .enabled(if: available))
    func backslashAtTheEdge() {
        let text = #"0123456789abcde\"fghijklmnopqrs"# + "0123456789abcdef"
        let (taken, output) = Self.run(text)
        // 15 bytes, then 16 from the backslash, then 16 plain; the padding's quotes stop it.
        #expect(taken == 47)
        #expect(output == #"0123456789abcde"fghijklmnopqrs0123456789abcdef"#)
    }

    /// The rule by the byte, left to right: a backslash must escape `"` or `/` (or be the last
    /// byte, escaping the next block's first); any other byte that needs attention refuses.
    static func takesByTheByte(_ block: [UInt8]) -> Bool {
        var index = 0
        while index < 16 {
            let byte = block[index]
            if byte == UInt8(ascii: "\\") {
                if index == 15 { return true }
                guard block[index + 1] == UInt8(ascii: "\"") || block[index + 1] == UInt8(ascii: "/") else { return false }
                index += 2
            } else if byte == UInt8(ascii: "\"") || byte < 0x20 || byte >= 0x80 {
                return false
            } else {
                index += 1
            }
        }
        return true
    }

    /// `kafka_loki_json_shuffle_takes`, the one rule both the Swift block loop and the shuffle
    /// ask, against ``takesByTheByte(_:)`` on random blocks of the bytes that matter.
    @Test("which blocks it takes: the masks' rule agrees with the rule by the byte")
    func takesRule() {
        // Blocks built of pieces the shuffle takes, with one in eight a piece it must refuse;
        // cut at 16 bytes, which also puts backslashes in the last byte.
        let takes: [[UInt8]] = [Array("a".utf8), Array("n".utf8), Array("/".utf8), Array(#"\""#.utf8), Array(#"\/"#.utf8)]
        let refuses: [[UInt8]] = [Array(#"\\"#.utf8), Array(#"\n"#.utf8), Array("\"".utf8), [0x01], [0xC3, 0xA9], Array(#"\\""#.utf8)]
        var generator = SplitMix64(seed: 0x5EED_0004)
        var taken = 0
        for _ in 0..<200_000 {
            var block: [UInt8] = []
            while block.count < 16 {
                let roll = Int(generator.next() % 64)
                block += roll < 8 ? refuses[roll % refuses.count] : takes[roll % takes.count]
            }
            block.removeLast(block.count - 16)
            var attention: UInt32 = 0
            var backslashes: UInt32 = 0
            var quoteOrSlash: UInt32 = 0
            for (index, byte) in block.enumerated() {
                let bit = UInt32(1) << index
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 || byte >= 0x80 { attention |= bit }
                if byte == UInt8(ascii: "\\") { backslashes |= bit }
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "/") { quoteOrSlash |= bit }
            }
            let takes = kafka_loki_json_shuffle_takes(attention, backslashes, quoteOrSlash) != 0
            #expect(takes == Self.takesByTheByte(block), "\(String(decoding: block, as: UTF8.self))")
            if takes { taken += 1 }
        }
        // Both answers occur often enough to mean something.
        #expect(taken > 1_000 && taken < 199_000, "\(taken) taken")
    }

    /// Every 16-bit mask of backslash positions the shuffle can take (no two adjacent: an
    /// escaped backslash stops it), so every entry of its shuffle-control table that can be
    /// used, in both halves: each block is taken whole and unescaped exactly.
    @Test("every mask of backslashes it can take", .enabled(if: available))
    func everyMask() {
        var masks = 0
        for mask in 0..<(1 << 16) where mask & (mask << 1) == 0 {
            var block: [UInt8] = []
            for index in 0..<16 {
                if mask & (1 << index) != 0 {
                    block.append(UInt8(ascii: "\\"))
                } else if index > 0, mask & (1 << (index - 1)) != 0 {
                    block.append(index % 2 == 0 ? UInt8(ascii: "\"") : UInt8(ascii: "/"))
                } else {
                    block.append(UInt8(ascii: "a") + UInt8(index))
                }
            }
            // A backslash in the last byte escapes the next block's first byte.
            let next = (mask & 0x8000 != 0 ? [UInt8(ascii: "\"")] : [UInt8(ascii: "A")]) + Array("BCDEFGHIJKLMNOP".utf8)
            let input = block + next
            let (taken, output) = Self.run(input)
            #expect(taken >= 31, "mask \(String(mask, radix: 2))")
            #expect(output == Self.unescaped(input[..<taken]), "mask \(String(mask, radix: 2))")
            masks += 1
        }
        #expect(masks == 2584)  // Fibonacci(18): 16-bit masks without two adjacent bits
    }
}
