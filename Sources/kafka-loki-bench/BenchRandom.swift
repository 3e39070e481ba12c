import BridgeCore

/// The benchmark's deterministic generator (SplitMix64 from BridgeCore), so `fill`, the
/// ceilings and the micro-benchmarks rebuild byte-identical records from the same seed.
struct BenchRandom {
    private var generator: SplitMix64

    init(seed: UInt64) { generator = SplitMix64(seed: seed) }

    mutating func next() -> UInt64 { generator.next() }

    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }

    /// Appends `count` lowercase hex digits (random ids such as trace ids).
    mutating func appendHex(_ count: Int, to out: inout [UInt8]) {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var bits = next()
        for index in 0..<count {
            if index > 0, index % 16 == 0 { bits = next() }
            out.append(digits[Int(bits & 0xF)])
            bits >>= 4
        }
    }
}

/// A 64-bit hash of a line, summed over all lines into an order-independent fingerprint: the
/// sink's sum equals `fill`'s exactly when every line arrived once (no loss, no duplicate).
enum LineHash {
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0x243F_6A88_85A3_08D3 ^ UInt64(bytes.count)
        var index = 0
        while index + 8 <= bytes.count {
            let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            h = (h ^ word) &* 0x9E37_79B9_7F4A_7C15
            h ^= h >> 29
            index += 8
        }
        while index < bytes.count {
            h = (h ^ UInt64(bytes[index])) &* 0x100_0000_01B3
            index += 1
        }
        h ^= h >> 32
        return h &* 0xD6E8_FEB8_6659_FD93
    }
}
