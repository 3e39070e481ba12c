import BridgeCodecs
import BridgeCore
import Testing

@Suite("Snappy and Gzip codecs")
struct CodecTests {
    /// Compressible and incompressible inputs, including empty and NUL bytes, by name (so the
    /// test log shows the name, not 70 kB of bytes).
    static let inputs: [String: [UInt8]] = {
        var random = UInt64(0x1234_5678)
        let noise = (0..<70_000).map { _ -> UInt8 in
            random = random &* 6_364_136_223_846_793_005 &+ 1
            return UInt8(truncatingIfNeeded: random >> 33)
        }
        return [
            "empty": [], "nul": [0], "hello": Array("hello".utf8),
            "json-lines": Array(String(repeating: #"{"level":"info","msg":"request served"} "#, count: 2000).utf8),
            "noise": noise,
        ]
    }()

    @Test(arguments: inputs.keys.sorted())
    func snappyRoundTrip(_ name: String) throws {
        let input = try #require(Self.inputs[name])
        let compressed = Snappy.compress(input)
        if input.count > 1000, input.first == UInt8(ascii: "{") { #expect(compressed.count < input.count / 10) }
        #expect(try Snappy.decompress(compressed, limit: input.count) == input)
    }

    /// The body of a batch of forwarded records is their libsnappy blocks joined behind one
    /// preamble. Blocks with back-references (copies), incompressible blocks and empty ones
    /// must decompress, with libsnappy's own checks, to the concatenated inputs.
    @Test func snappyBlocksConcatenate() throws {
        let names = ["json-lines", "noise", "empty", "hello", "json-lines", "nul"]
        let inputs = try names.map { try #require(Self.inputs[$0]) }
        let blocks = try inputs.map { input in
            try #require(SnappyBlock(verified: Snappy.compress(input), uncompressedLength: input.count))
        }
        let joined = SnappyBlock.concatenate(blocks)
        #expect(try Snappy.decompress(joined, limit: 1 << 20) == inputs.flatMap { $0 })
        #expect(joined.count < inputs.reduce(0) { $0 + $1.count } / 2, "the compressed elements are reused as they are")
    }

    @Test func snappyRejectsCorruptInput() throws {
        let compressed = Snappy.compress(Array(String(repeating: "abcdef", count: 100).utf8))
        var corrupt = compressed
        corrupt[corrupt.count / 2] ^= 0xFF
        corrupt.removeLast(3)
        for input in [[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], corrupt, Array(compressed.prefix(4))] as [[UInt8]] {
            #expect {
                try Snappy.decompress(input, limit: 1 << 20)
            } throws: { error in
                (error as? RecordDecodeError)?.reason == .snappy
            }
        }
    }

    @Test func snappyEnforcesTheLimitFromTheHeader() throws {
        let input = [UInt8](repeating: 7, count: 1000)
        let compressed = Snappy.compress(input)
        #expect(try Snappy.decompress(compressed, limit: 1000) == input)
        #expect {
            try Snappy.decompress(compressed, limit: 999)
        } throws: { error in
            (error as? RecordDecodeError)?.reason == .tooLarge
        }
    }

    @Test(arguments: inputs.keys.sorted())
    func gzipRoundTrip(_ name: String) throws {
        let input = try #require(Self.inputs[name])
        let compressed = Gzip.compress(input)
        #expect(compressed.starts(with: [0x1F, 0x8B]))
        #expect(try Gzip.decompress(compressed, limit: input.count) == input)
    }

    @Test func gzipReadsConcatenatedMembers() throws {
        let joined = Gzip.compress(Array("first ".utf8)) + Gzip.compress(Array("second".utf8))
        #expect(try Gzip.decompress(joined, limit: 100) == Array("first second".utf8))
    }

    @Test func gzipRejectsTruncatedAndInvalidInput() {
        let compressed = Gzip.compress(Array(String(repeating: "log line ", count: 500).utf8))
        for input in [Array(compressed.dropLast(12)), Array(compressed.prefix(10)), Array("{not gzip}".utf8)] {
            #expect {
                try Gzip.decompress(input, limit: 1 << 20)
            } throws: { error in
                (error as? RecordDecodeError)?.reason == .gzip
            }
        }
    }

    @Test func gzipEnforcesTheLimit() {
        let compressed = Gzip.compress([UInt8](repeating: 0, count: 200_000))
        #expect {
            try Gzip.decompress(compressed, limit: 100_000)
        } throws: { error in
            (error as? RecordDecodeError)?.reason == .tooLarge
        }
    }

    @Test func nativeDecompressorDelegatesToBothCodecs() throws {
        let native = NativeDecompressor()
        let input = Array("payload".utf8)
        #expect(try native.snappyDecompress(Snappy.compress(input), limit: 100) == input)
        #expect(try native.gunzip(Gzip.compress(input), limit: 100) == input)
    }
}
