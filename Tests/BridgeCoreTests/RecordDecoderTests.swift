import BridgeCore
import Testing

@Suite("RecordDecoder: format routing and tenant resolution")
struct RecordDecoderTests {
    let decoder = RecordDecoder(options: .init(), decompressor: LiteralSnappy())
    static let protobufValue = LiteralSnappy.compress(Fixture.pushRequest)
    static let jsonBytes = Array(Fixture.json.utf8)
    /// What the JSON fixture becomes: the Codable decoder's streams encoded by PushBodyBuilder.
    static let jsonAsProtobuf: [UInt8] = {
        var out: [UInt8] = []
        PushBodyBuilder.appendStreams(try! LokiJSONPushDecoder.decode(jsonBytes), to: &out)
        return out
    }()

    enum Expected: Sendable, Equatable {
        case protobuf
        case json
        case failure(RecordDecodeError.Reason)
    }

    func outcome(_ record: KafkaRecord, using decoder: RecordDecoder? = nil) -> Expected {
        do {
            let decoded = try (decoder ?? self.decoder).decode(record)
            guard case .protobuf(let bytes) = decoded.content else {
                Issue.record("every format decodes to protobuf stream fields")
                return .failure(.protobuf)
            }
            if bytes == Self.jsonAsProtobuf {
                // JSON is transcoded to the same stream fields the protobuf path forwards.
                #expect((decoded.streamCount, decoded.entryCount, decoded.lineBytes) == (1, 2, 7))
                #expect(decoded.encodedBytes == bytes.count)
                return .json
            }
            #expect(bytes == Fixture.pushRequest)
            #expect((decoded.streamCount, decoded.entryCount, decoded.lineBytes) == (2, 3, 15))
            #expect(decoded.encodedBytes == Fixture.pushRequest.count)
            return .protobuf
        } catch {
            return .failure(error.reason)
        }
    }

    struct Routing: Sendable, CustomTestStringConvertible {
        var name: String
        var headers: [(String, String?)]
        var value: [UInt8]
        var expected: Expected
        var testDescription: String { name }
    }

    static let routing: [Routing] = [
        Routing(
            name: "protobuf",
            headers: [("Content-Type", "application/x-protobuf")],
            value: protobufValue,
            expected: .protobuf
        ),
        Routing(
            name: "application/protobuf",
            headers: [("Content-Type", "application/protobuf")],
            value: protobufValue,
            expected: .protobuf
        ),
        Routing(
            name: "protobuf, explicit snappy",
            headers: [("Content-Type", "application/x-protobuf"), ("Content-Encoding", "snappy")],
            value: protobufValue,
            expected: .protobuf
        ),
        Routing(name: "json", headers: [("Content-Type", "application/json")], value: jsonBytes, expected: .json),
        Routing(
            name: "padded values are trimmed",
            headers: [("Content-Type", " application/x-protobuf\t"), ("Content-Encoding", " Snappy ")],
            value: protobufValue,
            expected: .protobuf
        ),
        Routing(
            name: "json with charset, odd case",
            headers: [("content-type", " Application/JSON; charset=utf-8")],
            value: jsonBytes,
            expected: .json
        ),
        Routing(
            name: "json+gzip calls gunzip",
            headers: [("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
            value: LiteralSnappy.fakeGzip(jsonBytes),
            expected: .json
        ),
        Routing(
            name: "header names are case-insensitive",
            headers: [("CONTENT-TYPE", "application/json"), ("content-encoding", "GZIP")],
            value: LiteralSnappy.fakeGzip(jsonBytes),
            expected: .json
        ),
        Routing(
            name: "last header wins",
            headers: [("Content-Type", "application/json"), ("content-type", "application/x-protobuf")],
            value: protobufValue,
            expected: .protobuf
        ),
        Routing(
            name: "unsupported content type",
            headers: [("Content-Type", "text/plain")],
            value: jsonBytes,
            expected: .failure(.unsupportedContentType)
        ),
        Routing(
            name: "json with brotli",
            headers: [("Content-Type", "application/json"), ("Content-Encoding", "br")],
            value: jsonBytes,
            expected: .failure(.unsupportedContentEncoding)
        ),
        Routing(
            name: "protobuf with gzip",
            headers: [("Content-Type", "application/x-protobuf"), ("Content-Encoding", "gzip")],
            value: protobufValue,
            expected: .failure(.unsupportedContentEncoding)
        ),
        Routing(
            name: "protobuf body that is not snappy",
            headers: [("Content-Type", "application/x-protobuf")],
            value: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
            expected: .failure(.snappy)
        ),
        Routing(
            name: "snappy of a malformed PushRequest",
            headers: [("Content-Type", "application/x-protobuf")],
            value: LiteralSnappy.compress([0x08, 0x01]),
            expected: .failure(.protobuf)
        ),
        Routing(
            name: "json header on gzip bytes without encoding",
            headers: [("Content-Type", "application/json")],
            value: LiteralSnappy.fakeGzip(jsonBytes),
            expected: .failure(.json)
        ),
        Routing(
            name: "json+gzip that is not gzip",
            headers: [("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
            value: jsonBytes,
            expected: .failure(.gzip)
        ),
        Routing(name: "sniffed JSON", headers: [], value: jsonBytes, expected: .json),
        Routing(
            name: "sniffed JSON after whitespace",
            headers: [],
            value: Array(" \n\t\r".utf8) + jsonBytes,
            expected: .json
        ),
        Routing(name: "sniffed gzip", headers: [], value: LiteralSnappy.fakeGzip(jsonBytes), expected: .json),
        Routing(name: "sniffed protobuf", headers: [], value: protobufValue, expected: .protobuf),
        Routing(
            name: "null Content-Type value sniffs",
            headers: [("Content-Type", nil)],
            value: jsonBytes,
            expected: .json
        ),
        Routing(
            name: "sniffed garbage is tried as snappy",
            headers: [],
            value: Array("hello".utf8),
            expected: .failure(.snappy)
        ),
    ]

    @Test(arguments: routing)
    func routesByContentTypeEncodingAndSniffing(_ routing: Routing) {
        #expect(outcome(Fixture.record(value: routing.value, headers: routing.headers)) == routing.expected)
    }

    /// A snappy block of a 123-byte PushRequest starts with `{` (the varint 123); it must not
    /// be taken for JSON.
    @Test func snappyBlockStartingWithABraceIsProtobuf() throws {
        var line = ""
        var body: [UInt8] = []
        while body.count != 123 {
            line += "x"
            body = TestWire.pushRequest([
                TestWire.stream(labels: "{a=\"1\"}", entries: [TestWire.entry(seconds: 1, line: line)])
            ])
            try #require(body.count <= 123)
        }
        let value = LiteralSnappy.compress(body)
        #expect(value.first == UInt8(ascii: "{"))
        let decoded = try decoder.decode(Fixture.record(value: value))
        #expect(Segment(decoded.content) == .protobuf(body))
    }

    @Test func foreignTopLevelFieldsAreStrippedFromProtobufContent() throws {
        let body = TestWire.key(5, 0) + [0x01] + Fixture.pushRequest
        let decoded = try decoder.decode(Fixture.record(value: LiteralSnappy.compress(body)))
        #expect(Segment(decoded.content) == .protobuf(Fixture.pushRequest))
        #expect(decoded.encodedBytes == Fixture.pushRequest.count)
        #expect(decoded.compressed == nil, "the received block holds the foreign field: it cannot be forwarded")
    }

    @Test func aProtobufRecordOfOnlyStreamsKeepsItsBlockForForwarding() throws {
        let decoded = try decoder.decode(Fixture.record(value: Self.protobufValue))
        let block = try required(decoded.compressed)
        #expect(block.bytes == Self.protobufValue)
        #expect(block.uncompressedLength == Fixture.pushRequest.count)
        #expect(Segment(decoded.content) == .protobuf(Fixture.pushRequest))
    }

    @Test func jsonRecordsHaveNoBlockToForward() throws {
        let decoded = try decoder.decode(Fixture.record(value: Self.jsonBytes))
        #expect(decoded.compressed == nil)
    }

    @Test(arguments: [nil, [UInt8]()])
    func emptyValueIsRefused(value: [UInt8]?) {
        #expect(
            outcome(Fixture.record(value: value, headers: [("Content-Type", "application/json")]))
                == .failure(.emptyValue)
        )
    }

    @Test func decompressionLimitIsPassedToTheDecompressor() {
        let small = RecordDecoder(options: .init(maxDecompressedBytes: 10), decompressor: LiteralSnappy())
        #expect(outcome(Fixture.record(value: Self.protobufValue), using: small) == .failure(.tooLarge))
        let gzip = Fixture.record(value: LiteralSnappy.fakeGzip(Self.jsonBytes))
        #expect(outcome(gzip, using: small) == .failure(.tooLarge))
    }

    struct TenantCase: Sendable, CustomTestStringConvertible {
        var header: String?
        var key: String?
        var fromKey: Bool
        var defaultTenant: String?
        var expected: String?
        var testDescription: String {
            let sources = [header, key, defaultTenant].map(\.debugDescription)
            return "header \(sources[0]), key \(sources[1]), fromKey \(fromKey), default \(sources[2])"
        }
    }

    @Test(arguments: [
        TenantCase(header: "t1", key: "k", fromKey: true, defaultTenant: "d", expected: "t1"),
        TenantCase(header: " t1 ", key: nil, fromKey: false, defaultTenant: nil, expected: "t1"),
        TenantCase(header: nil, key: "k", fromKey: true, defaultTenant: "d", expected: "k"),
        TenantCase(header: nil, key: "k", fromKey: false, defaultTenant: "d", expected: "d"),
        TenantCase(header: nil, key: nil, fromKey: true, defaultTenant: "d", expected: "d"),
        TenantCase(header: nil, key: "", fromKey: true, defaultTenant: nil, expected: nil),
        TenantCase(header: nil, key: nil, fromKey: false, defaultTenant: nil, expected: nil),
        TenantCase(header: nil, key: nil, fromKey: false, defaultTenant: "", expected: nil),
        TenantCase(header: "", key: "k", fromKey: true, defaultTenant: nil, expected: "k"),
        TenantCase(header: "  ", key: nil, fromKey: false, defaultTenant: "d", expected: "d"),
    ])
    func tenantResolutionOrder(_ tenantCase: TenantCase) throws {
        let decoder = RecordDecoder(
            options: .init(tenantFromKey: tenantCase.fromKey, defaultTenant: tenantCase.defaultTenant),
            decompressor: LiteralSnappy()
        )
        var headers: [(String, String?)] = [("Content-Type", "application/json")]
        if let header = tenantCase.header { headers.append(("x-scope-orgid", header)) }
        let record = Fixture.record(key: tenantCase.key, value: Self.jsonBytes, headers: headers)
        #expect(try decoder.decode(record).tenant == tenantCase.expected)
    }

    @Test(arguments: [
        ("team a", "header"), ("a\r\nX-Injected: 1", "header"), ("ü", "header"), (".", "header"), ("..", "header"),
        (String(repeating: "t", count: 151), "header"), ("bad/tenant", "key"), ("bad tenant", "default"),
    ])
    func invalidTenantIsRefused(tenant: String, source: String) {
        let decoder = RecordDecoder(
            options: .init(tenantFromKey: source == "key", defaultTenant: source == "default" ? tenant : nil),
            decompressor: LiteralSnappy()
        )
        var headers: [(String, String?)] = [("Content-Type", "application/json")]
        if source == "header" { headers.append(("X-Scope-OrgID", tenant)) }
        let record = Fixture.record(key: source == "key" ? tenant : nil, value: Self.jsonBytes, headers: headers)
        #expect(outcome(record, using: decoder) == .failure(.invalidTenant))
    }

    @Test(arguments: ["a", "team-a_1", "A.b", "!-_.*'()", "...", String(repeating: "t", count: 150)])
    func validTenantsPass(tenant: String) {
        #expect(RecordDecoder.tenantProblem(tenant) == nil)
    }

    @Test func tenantHeaderNameMatchesLoki() {
        #expect(RecordDecoder.tenantHeader == "X-Scope-OrgID")
    }

    @Test func headerNamesMatchIgnoringASCIICaseOnly() {
        func record(_ key: String) -> KafkaRecord {
            KafkaRecord(
                topicPartition: TopicPartition(topic: "t", partition: 0), offset: 0, value: [1],
                headers: [RecordHeader(key: key, value: Array("v".utf8))])
        }
        #expect(record("x-scope-orgid").header("X-Scope-OrgID") == "v")
        #expect(record("X-SCOPE-ORGID").header("X-Scope-OrgID") == "v")
        #expect(record("X-Scope-OrgI").header("X-Scope-OrgID") == nil)
        // '@' and '`' (and '[' and '{') differ in the case bit but are not letters.
        #expect(record("a@b").header("a`b") == nil)
        #expect(record("a[b").header("A{B") == nil)
        #expect(record("X_Scope").header("X-Scope") == nil)
    }

    @Test("header values are trimmed of whitespace, Unicode included, and kept when there is none", arguments: [
        ("tenant-1", "tenant-1"), (" tenant-1\t", "tenant-1"), ("\u{00A0}a b\u{2003}", "a b"), ("é", "é"),
        ("", ""), (" \n ", ""), ("x\u{0085}", "x"),
    ])
    func trimming(_ value: String, _ expected: String) {
        #expect(value.trimmed == expected)
    }
}
