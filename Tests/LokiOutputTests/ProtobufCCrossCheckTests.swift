import BridgeCore
import CLokiProto
import Testing

/// Cross-checks the pure-Swift encoder against Loki's schema as compiled by protoc-c.
@Suite("PushBodyBuilder output decodes with protobuf-c")
struct ProtobufCCrossCheckTests {
    struct Entry: Equatable {
        var seconds: Int64
        var nanos: Int32
        var line: String
        var metadata: [LabelPair]
    }

    struct Stream: Equatable {
        var labels: String
        var entries: [Entry]
    }

    /// Unpacks `body` with `logproto__push_request__unpack` into Swift values.
    func unpack(_ body: [UInt8]) throws -> [Stream] {
        let request = try #require(
            body.withUnsafeBufferPointer { logproto__push_request__unpack(nil, $0.count, $0.baseAddress) },
            "protobuf-c refused the body"
        )
        defer { logproto__push_request__free_unpacked(request, nil) }
        var streams: [Stream] = []
        for streamIndex in 0..<request.pointee.n_streams {
            let stream = try #require(request.pointee.streams[streamIndex]).pointee
            var entries: [Entry] = []
            for entryIndex in 0..<stream.n_entries {
                let entry = try #require(stream.entries[entryIndex]).pointee
                let timestamp = try #require(entry.timestamp, "entry without timestamp").pointee
                var metadata: [LabelPair] = []
                for pairIndex in 0..<entry.n_structuredmetadata {
                    let pair = try #require(entry.structuredmetadata[pairIndex]).pointee
                    metadata.append(LabelPair(name: String(cString: pair.name), value: String(cString: pair.value)))
                }
                entries.append(
                    Entry(
                        seconds: timestamp.seconds,
                        nanos: timestamp.nanos,
                        line: String(cString: entry.line),
                        metadata: metadata
                    )
                )
            }
            streams.append(Stream(labels: String(cString: stream.labels), entries: entries))
        }
        return streams
    }

    @Test func decodedStreamsRoundTripThroughProtobufC() throws {
        let streams = [
            LokiStream(
                labels: #"{app="api", env="prod"}"#,
                entries: [
                    LokiEntry(timestampNanos: 1_700_000_000_123_456_789, line: "first"),
                    LokiEntry(
                        timestampNanos: 1_700_000_001_000_000_000,
                        line: "ünïcode ✓",
                        structuredMetadata: [
                            LabelPair(name: "trace_id", value: "abc"), LabelPair(name: "user", value: ""),
                        ]
                    ),
                    LokiEntry(timestampNanos: 0, line: ""),
                ]
            ),
            LokiStream(
                labels: #"{app="web"}"#,
                entries: [
                    LokiEntry(timestampNanos: -1, line: "before the epoch"),
                    LokiEntry(timestampNanos: -1_500_000_000, line: "further back"),
                ]
            ),
        ]
        var body: [UInt8] = []
        PushBodyBuilder.appendStreams(streams, to: &body)
        let decoded = try unpack(body)
        #expect(
            decoded == [
                Stream(
                    labels: #"{app="api", env="prod"}"#,
                    entries: [
                        Entry(seconds: 1_700_000_000, nanos: 123_456_789, line: "first", metadata: []),
                        Entry(
                            seconds: 1_700_000_001,
                            nanos: 0,
                            line: "ünïcode ✓",
                            metadata: [LabelPair(name: "trace_id", value: "abc"), LabelPair(name: "user", value: "")]
                        ),
                        Entry(seconds: 0, nanos: 0, line: "", metadata: []),
                    ]
                ),
                Stream(
                    labels: #"{app="web"}"#,
                    entries: [
                        Entry(seconds: -1, nanos: 999_999_999, line: "before the epoch", metadata: []),
                        Entry(seconds: -2, nanos: 500_000_000, line: "further back", metadata: []),
                    ]
                ),
            ]
        )
    }

    @Test func jsonPushDecodesToTheSameRequestProtobufCReads() throws {
        let json = #"{"streams":[{"stream":{"b":"2","a":"1"},"values":[["1700000000000000042","line",{"k":"v"}]]}]}"#
        let streams = try LokiJSONPushDecoder.decode(Array(json.utf8))
        var body: [UInt8] = []
        PushBodyBuilder.appendStreams(streams, to: &body)
        let decoded = try unpack(body)
        #expect(
            decoded == [
                Stream(
                    labels: #"{a="1", b="2"}"#,
                    entries: [
                        Entry(
                            seconds: 1_700_000_000,
                            nanos: 42,
                            line: "line",
                            metadata: [LabelPair(name: "k", value: "v")]
                        )
                    ]
                )
            ]
        )
    }

    /// The scanner accepts what protobuf-c itself produces (the alloy-distributor's bytes come
    /// from Go's encoder; protoc-c's output stands in for a foreign encoder here).
    @Test func scannerAcceptsProtobufCOutput() throws {
        var body: [UInt8] = []
        PushBodyBuilder.appendStreams(
            [LokiStream(labels: "{a=\"1\"}", entries: [LokiEntry(timestampNanos: 5, line: "hello")])],
            to: &body
        )
        let request = try #require(
            body.withUnsafeBufferPointer { logproto__push_request__unpack(nil, $0.count, $0.baseAddress) }
        )
        defer { logproto__push_request__free_unpacked(request, nil) }
        var repacked = [UInt8](repeating: 0, count: logproto__push_request__get_packed_size(request))
        let written = repacked.withUnsafeMutableBufferPointer { logproto__push_request__pack(request, $0.baseAddress) }
        #expect(written == repacked.count)
        let (summary, forwarded) = try LokiProtobufScanner.scan(repacked)
        #expect([summary.streams, summary.entries, summary.lineBytes] == [1, 1, 5])
        #expect(forwarded == repacked)
    }
}
