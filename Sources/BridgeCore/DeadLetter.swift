/// A record that can never reach Loki, on its way to the dead-letter topic, and the headers
/// that say why.
///
/// The dead-letter record keeps the source record's key, value and headers byte for byte (so a
/// replay decodes it exactly as the first attempt did) and adds `x-dlq-*` headers:
///
/// | header | value |
/// |---|---|
/// | `x-dlq-source-topic` / `-partition` / `-offset` | where the record came from |
/// | `x-dlq-tenant` | the resolved tenant (absent when none) |
/// | `x-dlq-reason` | bounded reason: a decode reason (`protobuf`, `snappy`, …) or `loki_rejected` |
/// | `x-dlq-detail` | human explanation (truncated to 1 KiB) |
/// | `x-dlq-loki-status` / `x-dlq-loki-message` | Loki's answer when Loki rejected it (message truncated to 1 KiB) |
/// | `x-dlq-first-failure` | RFC 3339 UTC time of the first failure |
package struct DeadLetter: Sendable {
    /// Header names, shared with `dlq replay`.
    package enum Header {
        package static let sourceTopic = "x-dlq-source-topic"
        package static let sourcePartition = "x-dlq-source-partition"
        package static let sourceOffset = "x-dlq-source-offset"
        package static let tenant = "x-dlq-tenant"
        package static let reason = "x-dlq-reason"
        package static let detail = "x-dlq-detail"
        package static let lokiStatus = "x-dlq-loki-status"
        package static let lokiMessage = "x-dlq-loki-message"
        package static let firstFailure = "x-dlq-first-failure"
        /// Prefix of every header the bridge adds.
        package static let prefix = "x-dlq-"
    }

    /// Reason used when Loki rejected the record's batch for good.
    package static let lokiRejected = "loki_rejected"
    /// Longest detail or Loki message kept in a header.
    package static let maxTextBytes = 1024

    /// The source record.
    package var record: KafkaRecord
    /// Bounded reason identifier.
    package var reason: String
    /// Human explanation.
    package var detail: String
    /// The tenant, when one was resolved.
    package var tenant: String?
    /// Loki's status code, when Loki answered.
    package var lokiStatus: Int?
    /// Loki's message, when Loki answered.
    package var lokiMessage: String?
    /// First failure, milliseconds since the Unix epoch.
    package var firstFailureMillis: Int64

    /// Creates a dead letter.
    package init(
        record: KafkaRecord, reason: String, detail: String, tenant: String? = nil, lokiStatus: Int? = nil,
        lokiMessage: String? = nil, firstFailureMillis: Int64
    ) {
        self.record = record
        self.reason = reason
        self.detail = detail
        self.tenant = tenant
        self.lokiStatus = lokiStatus
        self.lokiMessage = lokiMessage
        self.firstFailureMillis = firstFailureMillis
    }

    /// The dead-letter topic for a source topic: `template` with `{topic}` replaced.
    package static func topic(template: String, source: String) -> String {
        template.replacing("{topic}", with: source)
    }

    /// The source headers (minus `x-dlq-*` ones from an earlier trip) followed by the
    /// `x-dlq-*` headers of this failure.
    package var headers: [RecordHeader] {
        var headers = record.headers.filter { !$0.key.lowercased().hasPrefix(Header.prefix) }
        func add(_ key: String, _ value: String?) {
            guard let value else { return }
            headers.append(RecordHeader(key: key, value: Array(value.utf8)))
        }
        add(Header.sourceTopic, record.topicPartition.topic)
        add(Header.sourcePartition, "\(record.topicPartition.partition)")
        add(Header.sourceOffset, "\(record.offset)")
        add(Header.tenant, tenant)
        add(Header.reason, reason)
        add(Header.detail, Self.truncated(detail))
        add(Header.lokiStatus, lokiStatus.map { "\($0)" })
        add(Header.lokiMessage, lokiMessage.map(Self.truncated))
        add(Header.firstFailure, RFC3339.format(millis: firstFailureMillis))
        return headers
    }

    /// `text` cut to ``maxTextBytes`` at a character boundary.
    static func truncated(_ text: String) -> String {
        guard text.utf8.count > maxTextBytes else { return text }
        var result = ""
        for character in text {
            if result.utf8.count + character.utf8.count > maxTextBytes - 3 { break }
            result.append(character)
        }
        return result + "..."
    }
}
