import Foundation

/// Decodes the JSON body of a Loki push request into streams.
///
/// Accepts the current format (`/loki/api/v1/push`):
/// `{"streams":[{"stream":{"app":"x"},"values":[["<unix ns>","line",{"trace_id":"…"}]]}]}`
/// and the legacy one (`/api/prom/push`):
/// `{"streams":[{"labels":"{app=\"x\"}","entries":[{"ts":"<RFC 3339>","line":"…"}]}]}`.
/// Labels of the current format are rendered with ``LabelFormatter`` (sorted, as Loki does);
/// legacy label strings pass through unchanged.
///
/// The record path uses ``LokiJSONPushTranscoder`` (one pass, no strings per line); this
/// Codable decoder is its reference: the differential tests hold the transcoder to it.
package enum LokiJSONPushDecoder {
    /// Decodes `bytes` (uncompressed JSON).
    ///
    /// - Throws: ``RecordDecodeError`` with reason `.json` and the parser's explanation.
    package static func decode(_ bytes: [UInt8]) throws(RecordDecodeError) -> [LokiStream] {
        do {
            let request = try JSONDecoder().decode(JSONPushRequest.self, from: Data(bytes))
            return try request.streams.map { try $0.lokiStream() }
        } catch let error as RecordDecodeError {
            throw error
        } catch let DecodingError.dataCorrupted(context) {
            throw RecordDecodeError(.json, describe(context))
        } catch let DecodingError.keyNotFound(key, context) {
            throw RecordDecodeError(.json, "missing key '\(key.stringValue)' at \(path(context))")
        } catch let DecodingError.typeMismatch(type, context) {
            throw RecordDecodeError(.json, "expected \(type) at \(path(context))")
        } catch let DecodingError.valueNotFound(type, context) {
            throw RecordDecodeError(.json, "null where \(type) was expected at \(path(context))")
        } catch {
            throw RecordDecodeError(.json, "\(error)")
        }
    }

    private static func path(_ context: DecodingError.Context) -> String {
        let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        return path.isEmpty ? "top level" : path
    }

    private static func describe(_ context: DecodingError.Context) -> String {
        "\(context.debugDescription) at \(path(context))"
    }
}

private struct JSONPushRequest: Decodable {
    var streams: [JSONStream]
}

private struct JSONStream: Decodable {
    var stream: [String: String]?
    var values: [JSONValue]?
    var labels: String?
    var entries: [LegacyEntry]?

    func lokiStream() throws(RecordDecodeError) -> LokiStream {
        if let stream {
            let entries = (values ?? []).map {
                LokiEntry(timestampNanos: $0.timestamp, line: $0.line, structuredMetadata: $0.metadata)
            }
            return LokiStream(labels: LabelFormatter.format(stream.map { ($0.key, $0.value) }), entries: entries)
        }
        if let labels {
            var converted: [LokiEntry] = []
            for entry in entries ?? [] {
                guard let nanos = RFC3339.parseNanos(entry.ts) else {
                    throw RecordDecodeError(.json, "legacy entry timestamp '\(entry.ts)' is not RFC 3339")
                }
                converted.append(LokiEntry(timestampNanos: nanos, line: entry.line))
            }
            return LokiStream(labels: labels, entries: converted)
        }
        throw RecordDecodeError(.json, "stream has neither 'stream' nor 'labels'")
    }
}

/// `["<unix ns>", "line"]` or `["<unix ns>", "line", {"name": "value"}]`.
private struct JSONValue: Decodable {
    var timestamp: Int64
    var line: String
    var metadata: [LabelPair]

    init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        if let text = try? container.decode(String.self) {
            guard let nanos = Int64(text) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "timestamp '\(text)' is not an integer of Unix nanoseconds")
            }
            timestamp = nanos
        } else {
            timestamp = try container.decode(Int64.self)
        }
        line = try container.decode(String.self)
        if !container.isAtEnd, let map = try container.decodeNil() ? nil : container.decode([String: String].self) {
            metadata = map.sorted { $0.key < $1.key }.map { LabelPair(name: $0.key, value: $0.value) }
        } else {
            metadata = []
        }
    }
}

private struct LegacyEntry: Decodable {
    var ts: String
    var line: String
}
