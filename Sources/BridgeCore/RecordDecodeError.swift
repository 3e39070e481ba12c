/// Why a Kafka record could not be turned into Loki streams.
///
/// The `reason` is a short, bounded identifier used as a metric label and (later) as the
/// dead-letter reason; `detail` is the human explanation for the log.
package struct RecordDecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Bounded reason identifier, safe as a metric label value.
    package var reason: Reason
    /// Human-readable detail for logs.
    package var detail: String

    /// Creates an error.
    package init(_ reason: Reason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }

    /// The bounded set of decode failure reasons.
    package enum Reason: String, Sendable {
        /// The record has no value (tombstone) or an empty one.
        case emptyValue = "empty_value"
        /// The Content-Type header names a format the bridge does not read.
        case unsupportedContentType = "unsupported_content_type"
        /// Content-Encoding names an encoding the bridge does not read.
        case unsupportedContentEncoding = "unsupported_content_encoding"
        /// No header and the bytes look like no known format.
        case unknownFormat = "unknown_format"
        /// Snappy block decompression failed.
        case snappy = "snappy"
        /// Gzip decompression failed.
        case gzip = "gzip"
        /// The protobuf PushRequest is malformed.
        case protobuf = "protobuf"
        /// The JSON push body is malformed.
        case json = "json"
        /// Decompressed size over the configured limit.
        case tooLarge = "too_large"
        /// The tenant is not a valid Loki tenant ID (Loki would refuse every push).
        case invalidTenant = "invalid_tenant"
    }

    package var description: String { "\(reason.rawValue): \(detail)" }
}
