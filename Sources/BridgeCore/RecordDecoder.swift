/// Turns Kafka records written by the alloy-distributor (unparsed Loki push bodies) into
/// ``DecodedRecord``s.
///
/// Format: the `Content-Type` header when present (`application/x-protobuf` → snappy-block
/// protobuf; `application/json` → JSON, gzip when `Content-Encoding: gzip`). Without it the
/// bytes are sniffed: `{` → JSON, gzip magic → gzip JSON, otherwise snappy protobuf.
///
/// Tenant: the `X-Scope-OrgID` header; else the record key when `tenantFromKey`; else
/// `defaultTenant`; else `nil` (no tenant header, single-tenant Loki).
package struct RecordDecoder: Sendable {
    /// Header carrying the Loki tenant, as in Loki's HTTP API.
    package static let tenantHeader = "X-Scope-OrgID"

    /// Settings for tenant resolution and limits.
    package struct Options: Sendable {
        /// Use the record key as tenant when there is no `X-Scope-OrgID` header.
        package var tenantFromKey: Bool
        /// Tenant used when neither header nor key gives one; `nil` sends no tenant header.
        package var defaultTenant: String?
        /// Largest decompressed payload accepted, in bytes.
        package var maxDecompressedBytes: Int

        /// Creates options; the defaults match the configuration defaults.
        package init(tenantFromKey: Bool = false, defaultTenant: String? = nil, maxDecompressedBytes: Int = 64 << 20) {
            self.tenantFromKey = tenantFromKey
            self.defaultTenant = defaultTenant
            self.maxDecompressedBytes = maxDecompressedBytes
        }
    }

    private let options: Options
    private let decompressor: any PayloadDecompressor

    /// Creates a decoder.
    package init(options: Options, decompressor: any PayloadDecompressor) {
        self.options = options
        self.decompressor = decompressor
    }

    /// Decodes one record with a memo of its own (tests, one-off reads).
    ///
    /// - Throws: ``RecordDecodeError`` saying why the record cannot be read.
    package func decode(_ record: KafkaRecord) throws(RecordDecodeError) -> DecodedRecord {
        var memo = LabelMemo()
        return try decode(record, memo: &memo)
    }

    /// Decodes one record, reusing what `memo` remembers of earlier records' label sets.
    ///
    /// - Throws: ``RecordDecodeError`` saying why the record cannot be read.
    package func decode(_ record: KafkaRecord, memo: inout LabelMemo) throws(RecordDecodeError) -> DecodedRecord {
        guard let value = record.value, !value.isEmpty else {
            throw RecordDecodeError(.emptyValue, "record has no value")
        }
        let tenant = resolveTenant(record)
        if let tenant, let problem = Self.tenantProblem(tenant) {
            throw RecordDecodeError(.invalidTenant, "tenant '\(tenant.prefix(160))' \(problem)")
        }
        switch try format(of: record, value: value) {
        case .protobuf:
            let raw = try decompressor.snappyDecompress(value, limit: options.maxDecompressedBytes)
            let (summary, wire) = try LokiProtobufScanner.scan(raw)
            // Only stream fields (the scan kept every byte): the received block is the content.
            let compressed = wire.count == raw.count ? SnappyBlock(verified: value, uncompressedLength: raw.count) : nil
            return DecodedRecord(
                tenant: tenant, content: .protobuf(wire), streamCount: summary.streams,
                entryCount: summary.entries, lineBytes: summary.lineBytes, encodedBytes: wire.count,
                compressed: compressed, entryBounds: summary.bounds)
        case .json(let gzipped):
            let raw = gzipped ? try decompressor.gunzip(value, limit: options.maxDecompressedBytes) : value
            // Straight to protobuf stream fields: from here on JSON takes the protobuf fast path.
            let (summary, wire) = try LokiJSONPushTranscoder.transcode(raw, labels: &memo.jsonLabelTexts)
            return DecodedRecord(
                tenant: tenant, content: .protobuf(wire), streamCount: summary.streams,
                entryCount: summary.entries, lineBytes: summary.lineBytes, encodedBytes: wire.count,
                entryBounds: summary.bounds)
        }
    }

    private enum Format {
        case protobuf
        case json(gzipped: Bool)
    }

    private func format(of record: KafkaRecord, value: [UInt8]) throws(RecordDecodeError) -> Format {
        let encoding = record.header("Content-Encoding")?.trimmed.lowercased() ?? ""
        guard let contentTypeBytes = record.headerBytes("Content-Type") else { return sniff(value) }
        // What the distributor writes, compared as bytes: no String work for the usual record.
        if encoding.isEmpty {
            if contentTypeBytes.elementsEqual("application/x-protobuf".utf8) { return .protobuf }
            if contentTypeBytes.elementsEqual("application/json".utf8) { return .json(gzipped: false) }
        }
        let contentType = String(decoding: contentTypeBytes, as: UTF8.self)
        // Parameters such as "; charset=utf-8" do not change the format.
        let mediaType = contentType.split(separator: ";").first.map { String($0).trimmed.lowercased() } ?? ""
        switch mediaType {
        case "application/x-protobuf", "application/protobuf":
            guard encoding.isEmpty || encoding == "snappy" else {
                throw RecordDecodeError(
                    .unsupportedContentEncoding, "protobuf push with Content-Encoding '\(encoding)'")
            }
            return .protobuf
        case "application/json":
            switch encoding {
            case "": return .json(gzipped: false)
            case "gzip": return .json(gzipped: true)
            default:
                throw RecordDecodeError(.unsupportedContentEncoding, "JSON push with Content-Encoding '\(encoding)'")
            }
        default:
            throw RecordDecodeError(.unsupportedContentType, "Content-Type '\(contentType)' is not a Loki push format")
        }
    }

    /// Guesses the format of a record without Content-Type.
    private func sniff(_ value: [UInt8]) -> Format {
        if value.count >= 2, value[0] == 0x1F, value[1] == 0x8B { return .json(gzipped: true) }
        // JSON starts with '{' after optional whitespace; a snappy block starts with the varint
        // of the uncompressed length, which is '{' (0x7B = 123) only for a 123-byte payload
        // whose next byte would then have to be a snappy tag that JSON cannot start with.
        for byte in value {
            switch byte {
            case 0x20, 0x09, 0x0A, 0x0D: continue
            case 0x7B: return value.count > 1 && Self.looksLikeJSONAfterBrace(value) ? .json(gzipped: false) : .protobuf
            default: return .protobuf
            }
        }
        return .protobuf
    }

    private static func looksLikeJSONAfterBrace(_ value: [UInt8]) -> Bool {
        guard let brace = value.firstIndex(of: 0x7B) else { return false }
        for byte in value[(brace + 1)...] {
            switch byte {
            case 0x20, 0x09, 0x0A, 0x0D: continue
            case 0x22, 0x7D: return true  // '"' or '}'
            default: return false
            }
        }
        return false
    }

    /// Why `tenant` is not a valid Loki tenant ID, or `nil` when it is valid.
    ///
    /// Mirrors Loki's `tenant.ValidTenantID` (dskit): at most 150 characters from
    /// `[A-Za-z0-9!-_.*'()]`, not `.` or `..`. Checking here also keeps CR/LF out of the
    /// `X-Scope-OrgID` header.
    package static func tenantProblem(_ tenant: String) -> String? {
        if tenant.utf8.count > 150 { return "is longer than 150 characters" }
        if tenant == "." || tenant == ".." { return "is '.' or '..'" }
        for byte in tenant.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                continue
            case UInt8(ascii: "!"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "*"),
                UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"):
                continue
            default:
                return "contains a character Loki does not allow in tenant IDs (allowed: A-Z a-z 0-9 ! - _ . * ' ( ))"
            }
        }
        return nil
    }

    private func resolveTenant(_ record: KafkaRecord) -> String? {
        if let header = record.header(Self.tenantHeader)?.trimmed, !header.isEmpty { return header }
        if options.tenantFromKey, let key = record.key, !key.isEmpty {
            return String(decoding: key, as: UTF8.self)
        }
        if let tenant = options.defaultTenant, !tenant.isEmpty { return tenant }
        return nil
    }
}

extension String {
    /// The string without leading and trailing whitespace (Unicode's, ASCII included).
    package var trimmed: String {
        // The usual header value starts and ends with a visible ASCII character: nothing to
        // trim, and no Unicode property look-ups (this runs for every record).
        if let first = utf8.first, let last = utf8.last, Self.isVisibleASCII(first), Self.isVisibleASCII(last) {
            return self
        }
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }

    private static func isVisibleASCII(_ byte: UInt8) -> Bool { byte > 0x20 && byte < 0x7F }
}
