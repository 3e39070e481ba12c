/// Why an entry would be refused by Loki, as a bounded set of values (safe as a metric label
/// through ``lokiReason``).
package enum RejectionReason: Sendable, Hashable {
    /// Older than ``EntryLimits/maxAge`` (Loki `greater_than_max_sample_age`).
    case tooOld
    /// Newer than now + ``EntryLimits/creationGracePeriod`` (Loki `too_far_in_future`).
    case tooFarInFuture
    /// Longer than ``EntryLimits/maxLineBytes`` under ``EntryLimits/OversizePolicy/reject``
    /// (Loki `line_too_long`).
    case lineTooLong
    /// The stream's labels are invalid; every entry of the stream gets this reason.
    case invalidLabels(LabelSetError.Kind)
    /// Structured metadata while ``EntryLimits/allowStructuredMetadata`` is off
    /// (Loki `disallowed_structured_metadata`).
    case structuredMetadataDisallowed
    /// Structured metadata over ``EntryLimits/maxStructuredMetadataBytes``
    /// (Loki `structured_metadata_too_large`).
    case structuredMetadataTooLarge
    /// More structured metadata pairs than ``EntryLimits/maxStructuredMetadataEntries``
    /// (Loki `structured_metadata_too_many`).
    case structuredMetadataTooMany

    /// Loki's discard reason (the `reason` label of `loki_discarded_samples_total`, constants in
    /// grafana/loki `pkg/validation/validate.go`), e.g. `greater_than_max_sample_age`.
    package var lokiReason: String {
        switch self {
        case .tooOld: "greater_than_max_sample_age"
        case .tooFarInFuture: "too_far_in_future"
        case .lineTooLong: "line_too_long"
        case .invalidLabels(let kind): kind.lokiReason
        case .structuredMetadataDisallowed: "disallowed_structured_metadata"
        case .structuredMetadataTooLarge: "structured_metadata_too_large"
        case .structuredMetadataTooMany: "structured_metadata_too_many"
        }
    }
}

/// One entry the bridge will not push, with Loki's explanation.
package struct Rejection: Sendable, Equatable {
    /// The stream's label text as received.
    package var labels: String
    /// The entry's timestamp, nanoseconds since the Unix epoch.
    package var timestampNanos: Int64
    /// Why.
    package var reason: RejectionReason
    /// The message Loki's distributor would answer, e.g. `entry for stream '{app="x"}' has
    /// timestamp too old: 2024-01-01T00:00:00Z, oldest acceptable timestamp is: …`.
    package var message: String

    /// Creates a rejection.
    package init(labels: String, timestampNanos: Int64, reason: RejectionReason, message: String) {
        self.labels = labels
        self.timestampNanos = timestampNanos
        self.reason = reason
        self.message = message
    }
}

/// Loki's wording for entry rejections (grafana/loki `pkg/validation/validate.go`:
/// `GreaterThanMaxSampleAgeErrorMsg`, `TooFarInFutureErrorMsg`, `LineTooLongErrorMsg`,
/// `DisallowedStructuredMetadataErrorMsg`, `StructuredMetadataTooLargeErrorMsg`,
/// `StructuredMetadataTooManyErrorMsg`). Loki renders times with Go's `time.RFC3339`, whole
/// seconds; the stream is shown here as its received label text.
enum RejectionMessage {
    static func tooOld(labels: String, timestamp: Int64, oldest: Int64) -> String {
        "entry for stream '\(labels)' has timestamp too old: \(rfc3339(timestamp)), "
            + "oldest acceptable timestamp is: \(rfc3339(oldest))"
    }

    static func tooFarInFuture(labels: String, timestamp: Int64) -> String {
        "entry for stream '\(labels)' has timestamp too new: \(rfc3339(timestamp))"
    }

    static func lineTooLong(labels: String, limit: Int, length: Int) -> String {
        "Max entry size '\(limit)' bytes exceeded for stream '\(labels)' while adding an entry with length "
            + "'\(length)' bytes"
    }

    static func structuredMetadataDisallowed(labels: String) -> String {
        "stream '\(labels)' includes structured metadata, but this feature is disallowed. Please see "
            + "`limits_config.allow_structured_metadata` or contact your Loki administrator to enable it."
    }

    static func structuredMetadataTooLarge(labels: String, size: Int, limit: Int) -> String {
        "stream '\(labels)' has structured metadata too large: '\(size)' bytes, limit: '\(limit)' bytes. Please see "
            + "`limits_config.max_structured_metadata_size` or contact your Loki administrator to increase it."
    }

    static func structuredMetadataTooMany(labels: String, count: Int, limit: Int) -> String {
        "stream '\(labels)' has too many structured metadata labels: '\(count)', limit: '\(limit)'. Please see "
            + "`limits_config.max_structured_metadata_entries_count` or contact your Loki administrator to increase it."
    }

    /// `2006-01-02T15:04:05Z` (Go's `time.RFC3339` in UTC) for Unix nanoseconds, rounded down
    /// to the second.
    static func rfc3339(_ nanos: Int64) -> String {
        var seconds = nanos / 1_000_000_000
        if nanos % 1_000_000_000 < 0 { seconds -= 1 }
        return RFC3339.format(millis: seconds * 1000, fraction: false)
    }
}
