import BridgeCodecs
import BridgeCore

/// The record formats the benchmark fills topics with: what the alloy-distributor writes.
enum BenchFormat: String, CaseIterable, Sendable {
    /// A snappy-compressed protobuf `PushRequest` (`Content-Type: application/x-protobuf`).
    case protobuf
    /// A JSON push body (`Content-Type: application/json`).
    case json
    /// A gzip-compressed JSON push body (`Content-Encoding: gzip`), as clients that compress
    /// their JSON pushes send it.
    case jsonGzip = "json-gzip"

    var contentType: String { self == .protobuf ? "application/x-protobuf" : "application/json" }
    var contentEncoding: String? { self == .jsonGzip ? "gzip" : nil }
}

/// One Kafka record of the benchmark and what it carries.
struct BenchRecord: Sendable {
    var tenant: String
    var value: [UInt8]
    var lines: Int
    var lineBytes: Int
    /// Sum of `ByteHash` over the record's lines: summed over all lines, an order-independent
    /// fingerprint; the sink's sum equals `fill`'s exactly when every line arrived once.
    var lineHashSum: UInt64

    /// The headers the alloy-distributor sets: the tenant, the body's content type and, for a
    /// compressed JSON body, its content encoding.
    func headers(_ format: BenchFormat) -> [RecordHeader] {
        var headers = [
            RecordHeader(key: RecordDecoder.tenantHeader, value: Array(tenant.utf8)),
            RecordHeader(key: "Content-Type", value: Array(format.contentType.utf8)),
        ]
        if let encoding = format.contentEncoding {
            headers.append(RecordHeader(key: "Content-Encoding", value: Array(encoding.utf8)))
        }
        return headers
    }
}

/// Builds Loki push records of `linesPerRecord` lines spread over `streamsPerRecord` streams of
/// one tenant, deterministically from the seed.
struct PushRecordFactory {
    struct Shape: Sendable {
        var tenants = 4
        var streamsPerTenant = 16
        var linesPerRecord = 100
        var streamsPerRecord = 4
    }

    let format: BenchFormat
    let shape: Shape
    private var lines: LogLineGenerator
    private var nextNanos: Int64
    private let labelSets: [[(String, String)]]
    private var line: [UInt8] = []
    private var streamBody: [UInt8] = []
    private var entry: [UInt8] = []
    /// Pre-generated lines reused in turn (the rate producer: generating lines costs more than
    /// the bridge's work per line and would cap the offered rate on a shared 2-core box).
    private var pool: [[UInt8]] = []
    private var poolIndex = 0

    /// - Parameter startNanos: timestamp of the first line; later lines are 1 µs apart.
    init(
        format: BenchFormat, shape: Shape, seed: UInt64, startNanos: Int64, lineStyle: LogLineGenerator.Style = .mixed
    ) {
        self.format = format
        self.shape = shape
        lines = LogLineGenerator(seed: seed, style: lineStyle)
        nextNanos = startNanos
        let apps = ["checkout", "payments", "search", "inventory", "gateway", "auth", "orders", "email"]
        labelSets = (0..<shape.streamsPerTenant).map { index in
            let app = apps[index % apps.count]
            return [
                ("app", app), ("cluster", "prod-eu-1"), ("namespace", "shop"), ("container", "app"),
                ("pod", "\(app)-6d5f8-\(index)x\(index * 7 % 10)q"), ("stream", index % 3 == 0 ? "stderr" : "stdout"),
            ]
        }
    }

    /// Makes later records reuse `count` lines generated now (their timestamps stay fresh).
    mutating func usePool(of count: Int) {
        pool = (0..<count).map { _ in
            line.removeAll(keepingCapacity: true)
            lines.appendLine(nanos: nextNanos, to: &line)
            return line
        }
    }

    static func tenantName(_ index: Int) -> String { "tenant-\(index)" }

    /// The next record; `timestampNanos` fixes its lines' time (the rate producer's "now").
    mutating func next(timestampNanos: Int64? = nil) -> BenchRecord {
        let tenant = Self.tenantName(lines.nextInt(below: shape.tenants))
        var streams: [(labels: [(String, String)], lines: [[UInt8]], nanos: [Int64])] = []
        let perStream = shape.linesPerRecord / shape.streamsPerRecord
        var lineBytes = 0
        var hashSum: UInt64 = 0
        let first = lines.nextInt(below: shape.streamsPerTenant)
        for index in 0..<shape.streamsPerRecord {
            let count = index == shape.streamsPerRecord - 1
                ? shape.linesPerRecord - perStream * (shape.streamsPerRecord - 1) : perStream
            var texts: [[UInt8]] = []
            var stamps: [Int64] = []
            for _ in 0..<count {
                let nanos = timestampNanos ?? nextNanos
                nextNanos += 1000
                if pool.isEmpty {
                    line.removeAll(keepingCapacity: true)
                    lines.appendLine(nanos: nanos, to: &line)
                } else {
                    line = pool[poolIndex]
                    poolIndex = (poolIndex + 1) % pool.count
                }
                lineBytes += line.count
                hashSum &+= line.withUnsafeBytes { ByteHash.hash($0) }
                texts.append(line)
                stamps.append(nanos)
            }
            streams.append((labelSets[(first + index) % labelSets.count], texts, stamps))
        }
        let value: [UInt8]
        switch format {
        case .protobuf: value = Snappy.compress(encodeProtobuf(streams))
        case .json: value = encodeJSON(streams)
        case .jsonGzip: value = Gzip.compress(encodeJSON(streams))
        }
        return BenchRecord(
            tenant: tenant, value: value, lines: shape.linesPerRecord, lineBytes: lineBytes, lineHashSum: hashSum)
    }

    private mutating func encodeProtobuf(_ streams: [(labels: [(String, String)], lines: [[UInt8]], nanos: [Int64])]) -> [UInt8] {
        var out: [UInt8] = []
        for stream in streams {
            streamBody.removeAll(keepingCapacity: true)
            ProtoWireWriter.appendLengthDelimited(field: 1, Array(LabelFormatter.format(stream.labels).utf8), to: &streamBody)
            for (text, nanos) in zip(stream.lines, stream.nanos) {
                var timestamp: [UInt8] = [0x08]
                ProtoWireWriter.appendVarint(UInt64(nanos / 1_000_000_000), to: &timestamp)
                timestamp.append(0x10)
                ProtoWireWriter.appendVarint(UInt64(nanos % 1_000_000_000), to: &timestamp)
                entry.removeAll(keepingCapacity: true)
                ProtoWireWriter.appendLengthDelimited(field: 1, timestamp, to: &entry)
                ProtoWireWriter.appendLengthDelimited(field: 2, text, to: &entry)
                ProtoWireWriter.appendLengthDelimited(field: 2, entry, to: &streamBody)
            }
            ProtoWireWriter.appendLengthDelimited(field: 1, streamBody, to: &out)
        }
        return out
    }

    private func encodeJSON(_ streams: [(labels: [(String, String)], lines: [[UInt8]], nanos: [Int64])]) -> [UInt8] {
        var out = Array("{\"streams\":[".utf8)
        for (streamIndex, stream) in streams.enumerated() {
            if streamIndex > 0 { out.append(UInt8(ascii: ",")) }
            out += Array("{\"stream\":{".utf8)
            for (index, (name, value)) in stream.labels.enumerated() {
                out += Array("\(index > 0 ? "," : "")\"\(name)\":\"\(value)\"".utf8)
            }
            out += Array("},\"values\":[".utf8)
            for (index, (text, nanos)) in zip(stream.lines, stream.nanos).enumerated() {
                out += Array("\(index > 0 ? "," : "")[\"\(nanos)\",\"".utf8)
                Self.appendJSONStringContent(text, to: &out)
                out += Array("\"]".utf8)
            }
            out += Array("]}".utf8)
        }
        out += Array("]}".utf8)
        return out
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// A line as Go's `encoding/json` writes it (Loki's and Promtail's clients are Go): `"` and
    /// `\` escaped, `\n`, `\r` and `\t` as short escapes, other control characters and the
    /// HTML-sensitive `<`, `>` and `&` as `\u00XX`; everything else, UTF-8 included, as it is.
    static func appendJSONStringContent(_ text: [UInt8], to out: inout [UInt8]) {
        for byte in text {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), byte]
            case 0x0A: out += Array(#"\n"#.utf8)
            case 0x0D: out += Array(#"\r"#.utf8)
            case 0x09: out += Array(#"\t"#.utf8)
            case 0x00..<0x20, UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "&"):
                out += Array(#"\u00"#.utf8) + [hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]]
            default: out.append(byte)
            }
        }
    }
}
