import BridgeCore
import Testing

@Suite("PushBodyBuilder: encodes batches as PushRequest")
struct PushBodyBuilderTests {
    /// A batch with `segments`, made by the batcher. A content with a block is a record received
    /// as that block.
    func batch(_ segments: [PushContent], blocks: [Int: SnappyBlock] = [:]) -> PushBatch {
        var batcher = Batcher(maxBytes: .max, maxWait: .seconds(1))
        for (offset, content) in segments.enumerated() {
            let record = DecodedRecord(
                tenant: nil,
                content: content,
                streamCount: 1,
                entryCount: 1,
                lineBytes: 0,
                encodedBytes: 1,
                compressed: blocks[offset]
            )
            _ = batcher.add(record, ticket: Fixture.ticket(Int64(offset)), sourceBytes: 0, now: .now)
        }
        return batcher.drain()[0]
    }

    /// The uncompressed content of the body Loki would get for `batch`.
    func body(for batch: PushBatch) throws -> [UInt8] {
        let compressed = PushBodyBuilder.snappyBody(for: batch, compress: LiteralSnappy.compress)
        return try LiteralSnappy().snappyDecompress(compressed, limit: .max)
    }

    func block(_ content: [UInt8]) throws -> SnappyBlock {
        try required(SnappyBlock(verified: LiteralSnappy.compress(content), uncompressedLength: content.count))
    }

    /// Received blocks go into the body as they are: only the run of uncompressed records
    /// between them is compressed (once), and everything joins into one block whose content is
    /// the batch in order.
    @Test func receivedBlocksAreForwardedAndOnlyRunsAreCompressed() throws {
        let request: (String) -> [UInt8] = { line in
            TestWire.pushRequest([TestWire.stream(labels: "{a=\"1\"}", entries: [TestWire.entry(seconds: 1, line: line)])])
        }
        let (first, run1, run2, last) = (request("first"), request("run 1"), request("run 2"), request("last"))
        let blocks = [0: try block(first), 3: try block(last)]
        let input = batch([.protobuf(first), .protobuf(run1), .protobuf(run2), .protobuf(last)], blocks: blocks)
        var compressed: [[UInt8]] = []
        let body = PushBodyBuilder.snappyBody(for: input) { bytes in
            compressed.append(bytes)
            return LiteralSnappy.compress(bytes)
        }
        #expect(compressed == [run1 + run2])
        let runElements = LiteralSnappy.compress(run1 + run2).dropFirst(TestWire.varint(UInt64(run1.count + run2.count)).count)
        let total = first.count + run1.count + run2.count + last.count
        let expected =
            TestWire.varint(UInt64(total)) + blocks[0]!.bytes.dropFirst(blocks[0]!.elementsStart)
            + runElements + blocks[3]!.bytes.dropFirst(blocks[3]!.elementsStart)
        #expect(body == expected)
        #expect(try LiteralSnappy().snappyDecompress(body, limit: .max) == first + run1 + run2 + last)
    }

    @Test func aBatchOfOneReceivedBlockIsThatBlock() throws {
        let content = TestWire.pushRequest([TestWire.stream(labels: "{a=\"1\"}", entries: [TestWire.entry(seconds: 1, line: "x")])])
        let received = try block(content)
        let body = PushBodyBuilder.snappyBody(for: batch([.protobuf(content)], blocks: [0: received])) { _ in
            Issue.record("nothing needs compressing")
            return []
        }
        #expect(body == received.bytes)
    }

    @Test(arguments: [[0x00], [0x80, 0x01], [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]] as [[UInt8]])
    func preamblesAreReadAsSnappyVarints(_ preamble: [UInt8]) throws {
        var length = 0
        for (index, byte) in preamble.enumerated() { length |= Int(byte & 0x7F) << (7 * index) }
        let read = try required(SnappyBlock.readPreamble(preamble + [0x00]))
        #expect(read.length == length && read.size == preamble.count)
    }

    @Test(arguments: [[], [0x80], [0x80, 0x80, 0x80, 0x80, 0x80, 0x01], [0xFF, 0xFF, 0xFF, 0xFF, 0x1F]] as [[UInt8]])
    func malformedOrOversizedPreamblesAreRefused(_ preamble: [UInt8]) {
        #expect(SnappyBlock.readPreamble(preamble) == nil)
        #expect(SnappyBlock(verified: preamble, uncompressedLength: 0) == nil)
    }

    @Test func aBlockWhosePreambleDisagreesIsNotForwarded() {
        #expect(SnappyBlock(verified: LiteralSnappy.compress([1, 2, 3]), uncompressedLength: 4) == nil)
    }

    @Test func bodyOfDecodedJSONScansBackWithTheRightCounts() throws {
        let json = """
            {"streams":[
              {"stream":{"app":"api"},"values":[["1","first line"],["2","second"]]},
              {"stream":{"app":"web"},"values":[["3","ünïcode"]]}
            ]}
            """
        let streams = try LokiJSONPushDecoder.decode(Array(json.utf8))
        let body = try body(for: batch([.streams(streams)]))
        let (summary, forwarded) = try LokiProtobufScanner.scan(body)
        #expect(summary.counts == [2, 3, 10 + 6 + 9])
        #expect(forwarded == body)
        let decoded = try TestPushRequest(decoding: body)
        #expect(decoded.streams.map(\.labels) == [#"{app="api"}"#, #"{app="web"}"#])
        #expect(decoded.streams[0].entries.map(\.line) == [Array("first line".utf8), Array("second".utf8)])
    }

    @Test func encodingIsByteExactIncludingAnEmbeddedNUL() {
        let line = "a\u{0}b\u{0}"
        let stream = LokiStream(
            labels: #"{job="x"}"#,
            entries: [
                LokiEntry(
                    timestampNanos: 1_700_000_000_123_456_789,
                    line: line,
                    structuredMetadata: [LabelPair(name: "trace_id", value: "t\u{0}1")]
                )
            ]
        )
        var body: [UInt8] = []
        PushBodyBuilder.appendStreams([stream], to: &body)
        let expected = TestWire.pushRequest([
            TestWire.stream(
                labels: #"{job="x"}"#,
                entries: [
                    TestWire.entry(
                        seconds: 1_700_000_000,
                        nanos: 123_456_789,
                        line: [0x61, 0x00, 0x62, 0x00],
                        metadata: [("trace_id", "t\u{0}1")]
                    )
                ]
            )
        ])
        #expect(body == expected)
    }

    static let timestamps: [(nanos: Int64, seconds: Int64, fraction: Int32)] = [
        (0, 0, 0),
        (1, 0, 1),
        (1_500_000_000, 1, 500_000_000),
        (-1, -1, 999_999_999),
        (-1_000_000_000, -1, 0),
        (-1_500_000_000, -2, 500_000_000),
        (-86_400_000_000_000, -86_400, 0),
        (Int64.max, 9_223_372_036, 854_775_807),
        (Int64.min, -9_223_372_037, 145_224_192),
    ]

    @Test(arguments: timestamps)
    func timestampsSplitIntoSecondsAndNonNegativeNanos(nanos: Int64, seconds: Int64, fraction: Int32) throws {
        let stream = LokiStream(labels: "{a=\"1\"}", entries: [LokiEntry(timestampNanos: nanos, line: "x")])
        let body = try body(for: batch([.streams([stream])]))
        let entry = try #require(try TestPushRequest(decoding: body).streams.first?.entries.first)
        #expect(entry.seconds == seconds)
        #expect(entry.nanos == fraction)
        #expect(Int128(entry.seconds) * 1_000_000_000 + Int128(entry.nanos) == Int128(nanos))
    }

    @Test func structuredMetadataIsKeptInOrder() throws {
        let metadata = [
            LabelPair(name: "trace_id", value: "abc"), LabelPair(name: "a", value: ""),
            LabelPair(name: "z", value: "ü"),
        ]
        let stream = LokiStream(
            labels: "{a=\"1\"}",
            entries: [LokiEntry(timestampNanos: 5, line: "x", structuredMetadata: metadata)]
        )
        let body = try body(for: batch([.streams([stream])]))
        #expect(try TestPushRequest(decoding: body).streams.first?.entries.first?.metadata == metadata)
    }

    @Test func segmentsAreConcatenatedInOrder() throws {
        let first = TestWire.pushRequest([
            TestWire.stream(labels: "{n=\"1\"}", entries: [TestWire.entry(seconds: 1, line: "one")])
        ])
        let last = TestWire.pushRequest([
            TestWire.stream(labels: "{n=\"3\"}", entries: [TestWire.entry(seconds: 3, line: "three")])
        ])
        let middle = LokiStream(labels: "{n=\"2\"}", entries: [LokiEntry(timestampNanos: 2_000_000_000, line: "two")])
        let body = try body(for: batch([.protobuf(first), .streams([middle]), .protobuf(last)]))
        #expect(body.starts(with: first))
        #expect(body.suffix(last.count).elementsEqual(last))
        let decoded = try TestPushRequest(decoding: body)
        #expect(decoded.streams.map(\.labels) == ["{n=\"1\"}", "{n=\"2\"}", "{n=\"3\"}"])
        #expect(decoded.streams[1].entries.first?.seconds == 2)
    }

    @Test func emptyContentGivesAnEmptyRequest() throws {
        #expect(try body(for: batch([.protobuf([])])).isEmpty)
        #expect(try body(for: batch([.streams([])])).isEmpty)
    }
}
