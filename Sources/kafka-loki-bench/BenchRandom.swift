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
