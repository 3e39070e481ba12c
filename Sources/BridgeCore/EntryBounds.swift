/// Extremes over the entries of one push request, gathered by the pass that reads the request
/// anyway (``LokiProtobufScanner``, ``LokiJSONPushTranscoder``).
///
/// Why: when the oldest and newest timestamps are inside Loki's window, the longest line is
/// within the limit and no entry carries structured metadata, every entry passes
/// ``EntryValidator``'s entry checks, and the validator only needs to look at the labels. That
/// spares a second walk over every entry (about 160 ns per line, docs/performance.md).
package struct EntryBounds: Sendable, Equatable {
    /// Oldest entry timestamp, Unix nanoseconds (`Int64.max` when there is no entry).
    package var oldestNanos: Int64 = .max
    /// Newest entry timestamp, Unix nanoseconds (`Int64.min` when there is no entry).
    package var newestNanos: Int64 = .min
    /// Longest line in bytes.
    package var longestLine = 0
    /// Whether any entry has structured metadata (its limits are checked entry by entry).
    package var hasMetadata = false
    /// Entries taken into account. The validator uses the bounds only when this equals the
    /// entries it counts itself, so bounds that missed an entry can never wave one through.
    package var entries = 0

    package init() {}

    /// Takes one entry into account.
    @inline(__always)
    package mutating func include(timestampNanos: Int64, lineBytes: Int, hasMetadata metadata: Bool) {
        oldestNanos = min(oldestNanos, timestampNanos)
        newestNanos = max(newestNanos, timestampNanos)
        longestLine = max(longestLine, lineBytes)
        hasMetadata = hasMetadata || metadata
        entries += 1
    }
}

/// Reading of `EntryAdapter` fields shared by the scanner and the validator, so both see the
/// same timestamp for the same bytes.
enum LokiEntryWire {
    /// Reads `google.protobuf.Timestamp { int64 seconds = 1; int32 nanos = 2 }` at `range` into
    /// `seconds` / `nanos`; a field repeated in the message or across merged messages keeps its
    /// last value (protobuf's rule).
    static func readTimestamp(
        _ buffer: UnsafeBufferPointer<UInt8>,
        _ range: Range<Int>,
        seconds: inout Int64,
        nanos: inout Int32
    ) throws(RecordDecodeError) {
        var reader = ProtoWireReader(buffer, start: range.lowerBound, end: range.upperBound)
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, 0): seconds = Int64(bitPattern: try reader.readVarint())
            case (2, 0): nanos = Int32(truncatingIfNeeded: try reader.readVarint())
            case (1, _), (2, _):
                throw RecordDecodeError(.protobuf, "Timestamp field \(field) has wire type \(wireType)")
            default: try reader.skip(wireType: wireType)
            }
        }
    }

    /// `seconds × 10⁹ + nanos`, saturating at the `Int64` bounds (a decoded entry could not
    /// hold more either).
    static func unixNanos(seconds: Int64, nanos: Int32) -> Int64 {
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (sum, carry) = scaled.addingReportingOverflow(Int64(nanos))
        return overflow || carry ? (seconds < 0 ? Int64.min : .max) : sum
    }
}
