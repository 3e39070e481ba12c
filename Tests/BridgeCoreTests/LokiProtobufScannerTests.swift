import BridgeCore
import Testing

@Suite("LokiProtobufScanner: validates and measures PushRequests")
struct LokiProtobufScannerTests {
    @Test func countsStreamsEntriesAndLineBytes() throws {
        let (summary, forwarded) = try LokiProtobufScanner.scan(Fixture.pushRequest)
        #expect(summary.counts == [2, 3, 15])
        #expect(forwarded == Fixture.pushRequest)
    }

    @Test func countsMultiByteAndEmptyLines() throws {
        let body = TestWire.pushRequest([
            TestWire.stream(
                labels: "{a=\"1\"}",
                entries: [TestWire.entry(seconds: 1, line: "wörld"), TestWire.entry(seconds: 2, line: "")]
            ),
            TestWire.stream(labels: "{a=\"2\"}", entries: []),
        ])
        let (summary, _) = try LokiProtobufScanner.scan(body)
        #expect(summary.counts == [2, 2, 6])
    }

    @Test func measuresTheExtremesOfTimestampsAndLines() throws {
        let body = TestWire.pushRequest([
            TestWire.stream(
                labels: "{a=\"1\"}",
                entries: [TestWire.entry(seconds: 5, line: "four"), TestWire.entry(seconds: 3, nanos: 7, line: "")]),
            TestWire.stream(labels: "{a=\"2\"}", entries: [TestWire.entry(seconds: 9, nanos: 1, line: "seven!!")]),
        ])
        let bounds = try LokiProtobufScanner.scan(body).0.bounds
        #expect(bounds.oldestNanos == 3_000_000_007)
        #expect(bounds.newestNanos == 9_000_000_001)
        #expect(bounds.longestLine == 7)
        #expect(!bounds.hasMetadata)
    }

    @Test func boundsFollowProtobufsRulesForRepeatedFieldsAndSeeMetadata() throws {
        // Two timestamp fields merge (seconds of the second, nanos of the first); the last line
        // field wins; a missing timestamp is the epoch.
        let merged = TestWire.lengthDelimited(1, TestWire.timestamp(seconds: 1, nanos: 5))
            + TestWire.lengthDelimited(1, TestWire.timestamp(seconds: 2, nanos: 0))
            + TestWire.string(2, "a much longer first line") + TestWire.string(2, "short")
        let withMetadata = TestWire.entry(seconds: 4, line: "x", metadata: [("k", "v")])
        let epoch = TestWire.string(2, "no timestamp")
        let body = TestWire.pushRequest([TestWire.stream(labels: "{a=\"1\"}", entries: [merged, withMetadata])])
        var bounds = try LokiProtobufScanner.scan(body).0.bounds
        #expect(bounds.oldestNanos == 2_000_000_005)
        #expect(bounds.newestNanos == 4_000_000_000)
        #expect(bounds.longestLine == 5)
        #expect(bounds.hasMetadata)
        bounds = try LokiProtobufScanner.scan(TestWire.pushRequest([TestWire.stream(labels: "{a=\"1\"}", entries: [epoch])])).0.bounds
        #expect(bounds.oldestNanos == 0 && bounds.newestNanos == 0 && bounds.longestLine == 12)
    }

    @Test func emptyRequestIsValidAndEmpty() throws {
        let (summary, forwarded) = try LokiProtobufScanner.scan([])
        #expect(summary.counts == [0, 0, 0])
        #expect(forwarded.isEmpty)
    }

    @Test func unknownFieldsInsideStreamsAndEntriesAreKept() throws {
        // StreamAdapter.hash (field 3, varint) and an unknown fixed32 field in an entry.
        let entry = TestWire.entry(seconds: 1, line: "abc") + TestWire.key(9, 5) + [1, 2, 3, 4]
        let stream =
            TestWire.stream(labels: "{a=\"1\"}", entries: [entry]) + TestWire.key(3, 0) + TestWire.varint(12345)
        let body = TestWire.pushRequest([stream])
        let (summary, forwarded) = try LokiProtobufScanner.scan(body)
        #expect(summary.counts == [1, 1, 3])
        #expect(forwarded == body)
    }

    @Test func foreignTopLevelFieldsAreStripped() throws {
        let streamA = TestWire.lengthDelimited(
            1,
            TestWire.stream(labels: "{a=\"1\"}", entries: [TestWire.entry(seconds: 1, line: "x")])
        )
        let streamB = TestWire.lengthDelimited(
            1,
            TestWire.stream(labels: "{a=\"2\"}", entries: [TestWire.entry(seconds: 2, line: "yz")])
        )
        let varintField = TestWire.key(5, 0) + TestWire.varint(300)
        let fixed64 = TestWire.key(6, 1) + [UInt8](repeating: 0xAB, count: 8)
        let bytesField = TestWire.string(7, "format=v2")
        let fixed32 = TestWire.key(8, 5) + [0, 0, 0, 1]
        let body = varintField + streamA + fixed64 + bytesField + streamB + fixed32
        let (summary, forwarded) = try LokiProtobufScanner.scan(body)
        #expect(summary.counts == [2, 2, 3])
        #expect(forwarded == streamA + streamB)
    }

    struct Malformed: Sendable, CustomTestStringConvertible {
        var name: String
        var bytes: [UInt8]
        var testDescription: String { name }
    }

    static let malformed: [Malformed] = {
        let valid = Fixture.pushRequest
        let labelsOnly = TestWire.string(1, "{a=\"1\"}")
        return [
            Malformed(name: "truncated by one byte", bytes: Array(valid.dropLast())),
            Malformed(name: "truncated in a length prefix", bytes: [0x0A]),
            Malformed(name: "length past the end", bytes: [0x0A, 0x05, 0x0A, 0x00]),
            Malformed(name: "streams as varint", bytes: TestWire.key(1, 0) + [0x01]),
            Malformed(name: "streams as fixed32", bytes: TestWire.key(1, 5) + [0, 0, 0, 0]),
            Malformed(
                name: "stream without labels",
                bytes: TestWire.pushRequest([TestWire.lengthDelimited(2, TestWire.entry(seconds: 1, line: "x"))])
            ),
            Malformed(
                name: "stream with empty labels",
                bytes: TestWire.pushRequest([TestWire.stream(labels: "", entries: [])])
            ),
            Malformed(name: "labels as varint", bytes: TestWire.pushRequest([TestWire.key(1, 0) + [0x01]])),
            Malformed(
                name: "entries as varint",
                bytes: TestWire.pushRequest([labelsOnly + TestWire.key(2, 0) + [0x01]])
            ),
            Malformed(
                name: "entry line as varint",
                bytes: TestWire.pushRequest([labelsOnly + TestWire.lengthDelimited(2, TestWire.key(2, 0) + [0x01])])
            ),
            Malformed(
                name: "entry timestamp as fixed64",
                bytes: TestWire.pushRequest([
                    labelsOnly + TestWire.lengthDelimited(2, TestWire.key(1, 1) + [UInt8](repeating: 0, count: 8))
                ])
            ),
            Malformed(name: "overlong varint key", bytes: [UInt8](repeating: 0xFF, count: 10) + [0x01]),
            Malformed(
                name: "eleven-byte varint",
                bytes: TestWire.key(5, 0) + [UInt8](repeating: 0x80, count: 10) + [0x00]
            ),
            Malformed(name: "field number 0", bytes: [0x02, 0x00]),
            Malformed(name: "group wire type", bytes: TestWire.key(4, 3)),
            Malformed(name: "fixed64 past the end", bytes: TestWire.key(6, 1) + [1, 2, 3]),
        ]
    }()

    @Test(arguments: malformed)
    func rejectsMalformedInput(_ input: Malformed) {
        #expect(throws: RecordDecodeError.self) { try LokiProtobufScanner.scan(input.bytes) }
        do {
            _ = try LokiProtobufScanner.scan(input.bytes)
        } catch {
            #expect(error.reason == .protobuf)
        }
    }
}
