#if arch(x86_64)
import Foundation
import JSONBlocks
import Testing

/// The SSSE3 block shuffle on its own: the CPU check, and what it takes and leaves. (The
/// transcoder's tests run every body with and without it and compare.)
@Suite("JSONBlockShuffle: blocks of escaped quotes in one shuffle")
struct JSONBlockShuffleTests {
    @Test("the CPU check agrees with the kernel's CPU flags")
    func detection() throws {
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let flags = try #require(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") })
        #expect(JSONBlockShuffle.isAvailable == flags.split(separator: " ").contains("ssse3"))
    }

    /// Runs the shuffle over `text` (followed by 32 bytes of padding it must not take) from 0.
    static func run(_ text: String) -> (taken: Int, output: String) {
        let input = Array(text.utf8) + Array(repeating: UInt8(ascii: "\""), count: 32)
        var position = 0
        var count = 0
        let out = UnsafeMutablePointer<UInt8>.allocate(capacity: input.count)
        defer { out.deallocate() }
        input.withUnsafeBufferPointer { JSONBlockShuffle.copyUnescaping($0.baseAddress!, &position, end: $0.count, into: out, &count) }
        return (position, String(decoding: UnsafeBufferPointer(start: out, count: count), as: UTF8.self))
    }

    @Test("blocks of plain bytes, \\\" and \\/ are taken whole; the first other block is left")
    func takesAndLeaves() throws {
        try #require(JSONBlockShuffle.isAvailable)
        // 16-byte blocks: plain; escaped quotes; escaped slashes and quotes; then one with \n.
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

    @Test("a backslash in a block's last byte is left for the next block")
    func backslashAtTheEdge() {
        guard JSONBlockShuffle.isAvailable else { return }
        let text = #"0123456789abcde\"fghijklmnopqrs"# + "0123456789abcdef"
        let (taken, output) = Self.run(text)
        // 15 bytes, then 16 from the backslash, then 16 plain; the padding's quotes stop it.
        #expect(taken == 47)
        #expect(output == #"0123456789abcde"fghijklmnopqrs0123456789abcdef"#)
    }
}
#endif
