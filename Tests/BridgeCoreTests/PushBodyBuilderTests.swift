import BridgeCore
import Testing

@Suite("PushBodyBuilder: encodes batches as PushRequest")
struct PushBodyBuilderTests {
    /// A batch with `segments`, made by the batcher (adjacent protobuf segments merge, which
    /// does not change the body).
    func batch(_ segments: [PushContent]) -> PushBatch {
        var batcher = Batcher(maxBytes: .max, maxWait: .seconds(1))
        for (offset, content) in segments.enumerated() {
            let record = DecodedRecord(
                tenant: nil,
                content: content,
                streamCount: 1,
                entryCount: 1,
                lineBytes: 0,
                encodedBytes: 1
            )
            _ = batcher.add(record, ticket: Fixture.ticket(Int64(offset)), sourceBytes: 0, now: .now)
        }
        return batcher.drain()[0]
    }

    @Test func bodyOfDecodedJSONScansBackWithTheRightCounts() throws {
        let json = """
            {"streams":[
              {"stream":{"app":"api"},"values":[["1","first line"],["2","second"]]},
              {"stream":{"app":"web"},"values":[["3","ünïcode"]]}
            ]}
            """
        let streams = try LokiJSONPushDecoder.decode(Array(json.utf8))
        let body = PushBodyBuilder.body(for: batch([.streams(streams)]))
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
        let body = PushBodyBuilder.body(for: batch([.streams([stream])]))
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
        let body = PushBodyBuilder.body(for: batch([.streams([stream])]))
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
        let body = PushBodyBuilder.body(for: batch([.protobuf(first), .streams([middle]), .protobuf(last)]))
        #expect(body.starts(with: first))
        #expect(body.suffix(last.count).elementsEqual(last))
        let decoded = try TestPushRequest(decoding: body)
        #expect(decoded.streams.map(\.labels) == ["{n=\"1\"}", "{n=\"2\"}", "{n=\"3\"}"])
        #expect(decoded.streams[1].entries.first?.seconds == 2)
    }

    @Test func emptyContentGivesAnEmptyRequest() {
        #expect(PushBodyBuilder.body(for: batch([.protobuf([])])).isEmpty)
        #expect(PushBodyBuilder.body(for: batch([.streams([])])).isEmpty)
    }
}
