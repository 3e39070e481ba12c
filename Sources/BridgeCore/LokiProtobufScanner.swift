/// Validates a serialized Loki `PushRequest` and measures it without decoding entries.
///
/// A PushRequest is `repeated StreamAdapter streams = 1`, so the serialized streams of many
/// requests concatenate into one valid request. The bridge therefore forwards the received bytes
/// (the fast path) once this scan has proved them well-formed; only requests carrying fields
/// other than `streams` are rewritten, keeping just the stream fields.
package enum LokiProtobufScanner {
    /// What a scan found.
    package struct Summary: Sendable, Equatable {
        /// Number of streams.
        package var streams: Int = 0
        /// Number of entries over all streams.
        package var entries: Int = 0
        /// Sum of the line lengths in bytes.
        package var lineBytes: Int = 0
        /// Extremes over the entries (the validator's shortcut).
        package var bounds = EntryBounds()
    }

    /// Scans `bytes` (an uncompressed PushRequest).
    ///
    /// - Returns: the summary and the bytes to forward: `bytes` itself when it holds only stream
    ///   fields, otherwise a copy holding only them.
    /// - Throws: ``RecordDecodeError`` with reason `.protobuf` when the message is malformed.
    package static func scan(_ bytes: [UInt8]) throws(RecordDecodeError) -> (Summary, [UInt8]) {
        var summary = Summary()
        var foreignFields = false
        var streamRanges: [Range<Int>] = []
        try bytes.withUnsafeBufferPointer { (buffer) throws(RecordDecodeError) in
            var reader = ProtoWireReader(buffer)
            while !reader.isAtEnd {
                let tagStart = reader.position
                let (field, wireType) = try reader.readTag()
                if field == 1 {
                    guard wireType == 2 else {
                        throw RecordDecodeError(.protobuf, "PushRequest.streams has wire type \(wireType)")
                    }
                    let range = try reader.readLengthDelimited()
                    try scanStream(buffer, range, into: &summary)
                    summary.streams += 1
                    streamRanges.append(tagStart..<range.upperBound)
                } else {
                    foreignFields = true
                    try reader.skip(wireType: wireType)
                }
            }
        }
        guard foreignFields else { return (summary, bytes) }
        var kept: [UInt8] = []
        kept.reserveCapacity(bytes.count)
        for range in streamRanges { kept.append(contentsOf: bytes[range]) }
        return (summary, kept)
    }

    private static func scanStream(
        _ buffer: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into summary: inout Summary
    ) throws(RecordDecodeError) {
        var reader = ProtoWireReader(buffer, start: range.lowerBound, end: range.upperBound)
        var sawLabels = false
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, 2):
                let labels = try reader.readLengthDelimited()
                sawLabels = !labels.isEmpty
            case (2, 2):
                let entry = try reader.readLengthDelimited()
                try scanEntry(buffer, entry, into: &summary)
                summary.entries += 1
            case (1, _), (2, _):
                throw RecordDecodeError(.protobuf, "StreamAdapter field \(field) has wire type \(wireType)")
            default:
                try reader.skip(wireType: wireType)
            }
        }
        guard sawLabels else { throw RecordDecodeError(.protobuf, "stream without labels") }
    }

    /// Measures one EntryAdapter: its line length, timestamp and whether it has metadata. A
    /// repeated field keeps its last value, as in ``EntryValidator``.
    private static func scanEntry(
        _ buffer: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into summary: inout Summary
    ) throws(RecordDecodeError) {
        var reader = ProtoWireReader(buffer, start: range.lowerBound, end: range.upperBound)
        var lineBytes = 0
        var seconds: Int64 = 0
        var nanos: Int32 = 0
        var metadata = false
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, 2):
                let timestamp = try reader.readLengthDelimited()
                try LokiEntryWire.readTimestamp(buffer, timestamp, seconds: &seconds, nanos: &nanos)
            case (2, 2):
                lineBytes = try reader.readLengthDelimited().count
            case (3, 2):
                _ = try reader.readLengthDelimited()
                metadata = true
            case (1, _), (2, _), (3, _):
                throw RecordDecodeError(.protobuf, "EntryAdapter field \(field) has wire type \(wireType)")
            default:
                try reader.skip(wireType: wireType)
            }
        }
        summary.lineBytes += lineBytes
        summary.bounds.include(
            timestampNanos: LokiEntryWire.unixNanos(seconds: seconds, nanos: nanos), lineBytes: lineBytes,
            hasMetadata: metadata)
    }
}
