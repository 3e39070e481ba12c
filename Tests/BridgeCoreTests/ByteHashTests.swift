import BridgeCore
import Testing

/// `ByteHash` keys the label memo and sums into the benchmark's line fingerprint, so every byte
/// of every length must count: in the four lanes, in the word loop after them, and in the tail.
@Suite("ByteHash: every byte counts")
struct ByteHashTests {
    private static func hash(_ bytes: [UInt8]) -> UInt64 { bytes.withUnsafeBufferPointer { ByteHash.hash($0) } }

    /// Bytes that are not all alike, so that a lane or word mixed in twice would show.
    private static func sample(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) } }

    @Test("changing any one byte changes the hash, at every length up to 100")
    func everyByteCounts() {
        for count in 0...100 {
            let base = Self.sample(count)
            let baseHash = Self.hash(base)
            #expect(Self.hash(base) == baseHash, "not deterministic at length \(count)")
            for position in 0..<count {
                var changed = base
                changed[position] ^= 0x01
                #expect(Self.hash(changed) != baseHash, "length \(count): byte \(position) is not hashed")
            }
        }
    }

    @Test("the length counts: a prefix, or trailing zero bytes, hash differently")
    func lengthCounts() {
        for count in 1...100 {
            let bytes = Self.sample(count)
            #expect(Self.hash(Array(bytes.dropLast())) != Self.hash(bytes), "length \(count) vs its prefix")
            #expect(Self.hash(bytes + [0]) != Self.hash(bytes), "length \(count) vs one zero byte more")
        }
    }

    @Test("lanes are not interchangeable: swapping two 8-byte words changes the hash")
    func laneOrderCounts() {
        let words = (0..<4).map { lane in [UInt8](repeating: UInt8(lane + 1), count: 8) }
        let ordered = words.joined()
        let swapped = [words[1], words[0], words[2], words[3]].joined()
        #expect(Self.hash(Array(ordered)) != Self.hash(Array(swapped)))
    }

    @Test("as a fingerprint sum, a lost or a doubled line changes the sum")
    func fingerprintSeesLossAndDuplicates() {
        let lines = (0..<500).map { index in Array("line \(index) trace=\(index &* 7919) level=info".utf8) }
        let sum = lines.reduce(UInt64(0)) { $0 &+ Self.hash($1) }
        for index in [0, 1, 250, 499] {
            var lost = lines
            lost.remove(at: index)
            #expect(lost.reduce(UInt64(0)) { $0 &+ Self.hash($1) } != sum, "line \(index) lost")
            #expect((lines + [lines[index]]).reduce(UInt64(0)) { $0 &+ Self.hash($1) } != sum, "line \(index) twice")
        }
        #expect(lines.reversed().reduce(UInt64(0)) { $0 &+ Self.hash($1) } == sum, "the order of lines does not count")
    }
}
