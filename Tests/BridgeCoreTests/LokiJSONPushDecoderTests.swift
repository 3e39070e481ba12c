import BridgeCore
import Testing

@Suite("LokiJSONPushDecoder: Loki's JSON push bodies")
struct LokiJSONPushDecoderTests {
    func decode(_ json: String) throws(RecordDecodeError) -> [LokiStream] {
        try LokiJSONPushDecoder.decode(Array(json.utf8))
    }

    @Test func currentFormatWithAndWithoutStructuredMetadata() throws {
        let streams = try decode(
            """
            {"streams":[{"stream":{"env":"prod","app":"api"},"values":[
              ["1700000000000000001","plain"],
              ["1700000000000000002","with metadata",{"trace_id":"abc","a":"1"}],
              ["1700000000000000003","null metadata",null]
            ]}]}
            """
        )
        #expect(
            streams == [
                LokiStream(
                    labels: #"{app="api", env="prod"}"#,
                    entries: [
                        LokiEntry(timestampNanos: 1_700_000_000_000_000_001, line: "plain"),
                        LokiEntry(
                            timestampNanos: 1_700_000_000_000_000_002,
                            line: "with metadata",
                            structuredMetadata: [
                                LabelPair(name: "a", value: "1"), LabelPair(name: "trace_id", value: "abc"),
                            ]
                        ),
                        LokiEntry(timestampNanos: 1_700_000_000_000_000_003, line: "null metadata"),
                    ]
                )
            ]
        )
    }

    @Test func numericTimestamps() throws {
        let streams = try decode(#"{"streams":[{"stream":{"a":"1"},"values":[[1700000000000000001,"n"],[-5,"m"]]}]}"#)
        #expect(streams.first?.entries.map(\.timestampNanos) == [1_700_000_000_000_000_001, -5])
        #expect(streams.first?.entries.map(\.line) == ["n", "m"])
    }

    @Test func labelsAreSortedAndEscapedLikeLoki() throws {
        let streams = try decode(
            #"{"streams":[{"stream":{"msg":"say \"hi\" \\ now\nnext\ttab\r","b":"2","a":"ü"},"values":[]}]}"#
        )
        #expect(streams.first?.labels == #"{a="ü", b="2", msg="say \"hi\" \\ now\nnext\ttab\r"}"#)
        #expect(streams.first?.entries == [])
    }

    @Test func labelFormatterSortsByNameAndEscapes() {
        #expect(LabelFormatter.format([]) == "{}")
        #expect(LabelFormatter.format([("z", "1"), ("a", #"q"u\o"#)]) == #"{a="q\"u\\o", z="1"}"#)
    }

    @Test func severalStreamsKeepTheirOrder() throws {
        let streams = try decode(
            #"{"streams":[{"stream":{"n":"2"},"values":[["1","x"]]},{"stream":{"n":"1"},"values":[["2","y"]]}]}"#
        )
        #expect(streams.map(\.labels) == [#"{n="2"}"#, #"{n="1"}"#])
    }

    @Test func legacyFormatWithRFC3339Timestamps() throws {
        let streams = try decode(
            #"{"streams":[{"labels":"{app=\"x\", env=\"dev\"}","entries":[{"ts":"2018-12-18T08:28:06.801064-04:00","line":"hello"},{"ts":"1970-01-01T00:00:01Z","line":"b"}]}]}"#
        )
        #expect(
            streams == [
                LokiStream(
                    labels: #"{app="x", env="dev"}"#,
                    entries: [
                        LokiEntry(timestampNanos: 1_545_136_086_801_064_000, line: "hello"),
                        LokiEntry(timestampNanos: 1_000_000_000, line: "b"),
                    ]
                )
            ]
        )
    }

    @Test func emptyStreamsListIsValid() throws {
        #expect(try decode(#"{"streams":[]}"#).isEmpty)
    }

    @Test(arguments: [
        ("{}", "streams"),
        (#"{"streams":[{"stream":{"a":"b"},"values":[["12x","line"]]}]}"#, "12x"),
        (#"{"streams":[{"stream":{"a":"b"},"values":[["1.5","line"]]}]}"#, "1.5"),
        (#"{"streams":[{"stream":{"a":"b"},"values":[["1"]]}]}"#, ""),
        (#"{"streams":[{"stream":{"a":"b"},"values":[["1",7]]}]}"#, ""),
        (#"{"streams":[{"labels":"{a=\"b\"}","entries":[{"ts":"yesterday","line":"x"}]}]}"#, "yesterday"),
        (#"{"streams":[{"values":[["1","x"]]}]}"#, "neither"),
        (#"{"streams":[{"stream":{"a":1},"values":[]}]}"#, ""),
        (#"{"streams":"#, ""),
        ("not json", ""),
    ])
    func malformedBodiesFailWithReasonJSON(json: String, detail: String) {
        do {
            let streams = try decode(json)
            Issue.record("decoded \(streams)")
        } catch {
            #expect(error.reason == .json)
            #expect(detail.isEmpty || error.detail.contains(detail), "\(error.detail)")
        }
    }
}
