import BridgeCore

/// A pure stand-in for libsnappy/zlib, keeping `BridgeCoreTests` free of C.
///
/// Snappy: a block is `varint(uncompressed length)` followed by elements; this encoder emits
/// literal elements only (tag `(n-1) << 2` for n ≤ 60 bytes), which real snappy also decodes,
/// and the decoder accepts exactly those. Gzip: a fake framing, `1F 8B 08` + the payload, so a
/// test can prove the decoder asked for gunzip (the payload is not JSON until it is stripped).
struct LiteralSnappy: PayloadDecompressor {
    static let gzipMagic: [UInt8] = [0x1F, 0x8B, 0x08]

    static func compress(_ input: [UInt8]) -> [UInt8] {
        var out = TestWire.varint(UInt64(input.count))
        var start = 0
        while start < input.count {
            let count = min(60, input.count - start)
            out.append(UInt8(count - 1) << 2)
            out += input[start..<start + count]
            start += count
        }
        return out
    }

    static func fakeGzip(_ input: [UInt8]) -> [UInt8] { gzipMagic + input }

    func snappyDecompress(_ bytes: [UInt8], limit: Int) throws(RecordDecodeError) -> [UInt8] {
        var index = 0
        var length = 0
        var shift = 0
        while true {
            guard index < bytes.count, shift < 35 else { throw RecordDecodeError(.snappy, "bad length") }
            let byte = bytes[index]
            index += 1
            length |= Int(byte & 0x7F) << shift
            if byte & 0x80 == 0 { break }
            shift += 7
        }
        guard length <= limit else { throw RecordDecodeError(.tooLarge, "\(length) > \(limit)") }
        var out: [UInt8] = []
        while index < bytes.count {
            let tag = bytes[index]
            guard tag & 3 == 0, tag >> 2 < 60 else { throw RecordDecodeError(.snappy, "not a short literal") }
            let count = Int(tag >> 2) + 1
            guard index + 1 + count <= bytes.count else { throw RecordDecodeError(.snappy, "truncated literal") }
            out += bytes[(index + 1)..<(index + 1 + count)]
            index += 1 + count
        }
        guard out.count == length else { throw RecordDecodeError(.snappy, "length mismatch") }
        return out
    }

    func gunzip(_ bytes: [UInt8], limit: Int) throws(RecordDecodeError) -> [UInt8] {
        guard bytes.starts(with: Self.gzipMagic) else { throw RecordDecodeError(.gzip, "no fake gzip header") }
        let payload = Array(bytes.dropFirst(Self.gzipMagic.count))
        guard payload.count <= limit else { throw RecordDecodeError(.tooLarge, "\(payload.count) > \(limit)") }
        return payload
    }
}

/// Shorthands shared by the core tests.
enum Fixture {
    static let partition = TopicPartition(topic: "logging-events", partition: 0)

    static func partition(_ number: Int32) -> TopicPartition {
        TopicPartition(topic: "logging-events", partition: number)
    }

    static func record(
        offset: Int64 = 0,
        key: String? = nil,
        value: [UInt8]?,
        headers: [(String, String?)] = []
    ) -> KafkaRecord {
        KafkaRecord(
            topicPartition: partition,
            offset: offset,
            key: key.map { Array($0.utf8) },
            value: value,
            headers: headers.map { RecordHeader(key: $0.0, value: $0.1.map { Array($0.utf8) }) }
        )
    }

    /// A two-stream PushRequest: 3 entries, 15 line bytes.
    static let pushRequest = TestWire.pushRequest([
        TestWire.stream(
            labels: #"{app="api"}"#,
            entries: [
                TestWire.entry(seconds: 1_700_000_000, line: "hello"),
                TestWire.entry(seconds: 1_700_000_001, nanos: 5, line: "world", metadata: [("trace_id", "abc")]),
            ]
        ),
        TestWire.stream(labels: #"{app="web"}"#, entries: [TestWire.entry(seconds: 1_700_000_002, line: "again")]),
    ])

    static let json =
        #"{"streams":[{"stream":{"app":"api"},"values":[["1700000000000000000","hello"],["1700000000000000001","hi"]]}]}"#
}

/// `PushContent` or `PushSegment` without payload identity, for `#expect` comparisons.
enum Segment: Equatable {
    case protobuf([UInt8])
    case streams([LokiStream])
    /// A forwarded snappy block, by its bytes.
    case snappy([UInt8])

    init(_ content: PushContent) {
        self.init(PushSegment(content))
    }

    init(_ segment: PushSegment) {
        switch segment {
        case .protobuf(let bytes): self = .protobuf(bytes)
        case .streams(let streams): self = .streams(streams)
        case .snappy(let block): self = .snappy(block.bytes)
        }
    }
}
