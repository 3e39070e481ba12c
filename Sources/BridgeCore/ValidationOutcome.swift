/// What ``EntryValidator`` made of one push request: the content to push and the accounting.
///
/// `Content` is `[UInt8]` (a serialized `PushRequest`), `[LokiStream]` or ``PushContent``.
/// Every entry of the input is counted exactly once, as kept or as rejected:
/// `entriesKept + entriesRejected` is the number of entries validated.
package struct ValidationOutcome<Content: Sendable>: Sendable {
    /// What to push: the input itself when ``isUnchanged``, otherwise a rewritten request without
    /// the rejected entries (and without streams left empty by them), with over-long lines
    /// truncated. Streams that arrived without entries are kept as they were.
    package var content: Content
    /// True when ``content`` is the input, untouched (for protobuf: the same array, not a copy).
    package var isUnchanged: Bool
    /// Entries in ``content`` (truncated ones included).
    package var entriesKept: Int
    /// Entries in ``content`` whose line was cut to ``EntryLimits/maxLineBytes``.
    package var entriesTruncated: Int
    /// Line bytes removed by truncation (Loki's `mutated_bytes_total` analogue).
    package var bytesTruncated: Int
    /// Entries left out of ``content``.
    package var entriesRejected: Int
    /// ``entriesRejected`` by reason; every reason present has a count > 0.
    package var rejectedByReason: [RejectionReason: Int]
    /// The rejected entries, in input order, at most the validator's
    /// ``EntryValidator/maxListedRejections``.
    package var rejections: [Rejection]
    /// Rejected entries not in ``rejections`` because the list was full.
    package var rejectionsNotListed: Int

    /// Creates an outcome.
    package init(
        content: Content,
        isUnchanged: Bool,
        entriesKept: Int,
        entriesTruncated: Int = 0,
        bytesTruncated: Int = 0,
        entriesRejected: Int = 0,
        rejectedByReason: [RejectionReason: Int] = [:],
        rejections: [Rejection] = [],
        rejectionsNotListed: Int = 0
    ) {
        self.content = content
        self.isUnchanged = isUnchanged
        self.entriesKept = entriesKept
        self.entriesTruncated = entriesTruncated
        self.bytesTruncated = bytesTruncated
        self.entriesRejected = entriesRejected
        self.rejectedByReason = rejectedByReason
        self.rejections = rejections
        self.rejectionsNotListed = rejectionsNotListed
    }

    /// The same accounting with other content.
    package func replacingContent<Other: Sendable>(_ content: Other) -> ValidationOutcome<Other> {
        ValidationOutcome<Other>(
            content: content,
            isUnchanged: isUnchanged,
            entriesKept: entriesKept,
            entriesTruncated: entriesTruncated,
            bytesTruncated: bytesTruncated,
            entriesRejected: entriesRejected,
            rejectedByReason: rejectedByReason,
            rejections: rejections,
            rejectionsNotListed: rejectionsNotListed
        )
    }
}

extension ValidationOutcome: Equatable where Content: Equatable {}
