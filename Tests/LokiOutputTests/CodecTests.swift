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

    /// Why `body` failed, or nil when it did not.
    static func failure(_ body: () throws -> [UInt8]) -> RecordDecodeError.Reason? {
        do {
            _ = try body()
            return nil
        } catch let error as RecordDecodeError {
            return error.reason
        } catch {
            return nil
        }
    }

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
            #expect(Self.failure { try Snappy.decompress(input, limit: 1 << 20) } == .snappy)
        }
    }

    @Test func snappyEnforcesTheLimitFromTheHeader() throws {
        let input = [UInt8](repeating: 7, count: 1000)
        let compressed = Snappy.compress(input)
        #expect(try Snappy.decompress(compressed, limit: 1000) == input)
        #expect(Self.failure { try Snappy.decompress(compressed, limit: 999) } == .tooLarge)
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
            #expect(Self.failure { try Gzip.decompress(input, limit: 1 << 20) } == .gzip)
        }
    }

    @Test func gzipEnforcesTheLimit() {
        let compressed = Gzip.compress([UInt8](repeating: 0, count: 200_000))
        #expect(Self.failure { try Gzip.decompress(compressed, limit: 100_000) } == .tooLarge)
    }

    /// One-member bodies go through libdeflate, anything else through zlib: both must give the
    /// same bytes, and a member inside a body of several must not be taken for the whole body.
    @Test func gzipOneMemberAndSeveralMembersAgree() throws {
        let noise = try #require(Self.inputs["noise"])
        for length in [1, 17, 1000, 32_768, 32_769, 70_000] {
            let part = Array(noise.prefix(length))
            #expect(try Gzip.decompress(Gzip.compress(part), limit: length) == part, "one member of \(length)")
            let twice = Gzip.compress(part) + Gzip.compress(part)
            #expect(try Gzip.decompress(twice, limit: 2 * length) == part + part, "two members of \(length)")
        }
        // Concatenated members whose last trailer states the size of the whole output.
        let halves = Gzip.compress(Array(noise.prefix(500))) + Gzip.compress(Array(noise.prefix(500)))
        #expect(try Gzip.decompress(halves, limit: 1000) == Array(noise.prefix(500)) + Array(noise.prefix(500)))
    }

    /// The trailer's CRC-32 and size are checked whichever path reads the body: a body whose
    /// trailer lies is refused, never returned short, long or unchecked.
    @Test func gzipChecksTheTrailer() {
        let input = Array(String(repeating: "level=info msg=served ", count: 300).utf8)
        let compressed = Gzip.compress(input)
        var badCRC = compressed
        badCRC[compressed.count - 8] ^= 0x01
        var smallerSize = compressed
        smallerSize[compressed.count - 4] &-= 1
        var largerSize = compressed
        largerSize[compressed.count - 4] &+= 1
        var badData = compressed
        badData[compressed.count / 2] ^= 0x55
        for (name, body) in [("CRC", badCRC), ("size - 1", smallerSize), ("size + 1", largerSize), ("data", badData)] {
            #expect(Self.failure { try Gzip.decompress(body, limit: 1 << 20) } == .gzip, "\(name)")
        }
    }

    @Test func gzipLimitIsExact() throws {
        let input = [UInt8](repeating: 7, count: 10_000)
        let compressed = Gzip.compress(input)
        #expect(try Gzip.decompress(compressed, limit: 10_000) == input)
        #expect(Self.failure { try Gzip.decompress(compressed, limit: 9_999) } == .tooLarge)
    }

    @Test func nativeDecompressorDelegatesToBothCodecs() throws {
        let native = NativeDecompressor()
        let input = Array("payload".utf8)
        #expect(try native.snappyDecompress(Snappy.compress(input), limit: 100) == input)
        #expect(try native.gunzip(Gzip.compress(input), limit: 100) == input)
    }
}
