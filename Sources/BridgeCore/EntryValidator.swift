/// Checks push requests against ``EntryLimits`` before they are sent, so that Loki has nothing
/// left to refuse: over-long lines are truncated (or rejected, by policy) and entries Loki would
/// reject are taken out, each with a ``Rejection`` in Loki's wording.
///
/// Per stream, in Loki's order (grafana/loki `pkg/distributor/distributor.go` `Push`, then
/// `pkg/distributor/validator.go`): streams without entries are passed over; the labels are
/// checked (``LabelSetParser``), and a stream with invalid labels loses every entry with that
/// error; then each entry: too old, too far in the future, line too long (unless truncated),
/// structured metadata (allowed, size, count). Truncation cuts at the last UTF-8 character
/// boundary at or below ``EntryLimits/maxLineBytes`` (Loki cuts at the byte, which can split a
/// character); a line that is not UTF-8 there is cut at the byte.
///
/// Two inputs:
/// - ``validate(streams:now:)``: decoded streams (the JSON path).
/// - ``validate(protobuf:now:)``: a serialized `PushRequest`, walked with ``ProtoWireReader``
///   without materialising entries. When everything is valid the same array is returned (no
///   copy, no allocation per entry or per stream); otherwise a rewritten request where kept
///   entries, timestamps, structured metadata and unknown fields are copied byte for byte.
///
/// - Important: `now` is passed in (Unix nanoseconds) so results are reproducible; pass the
///   time of the push, since Loki judges age when it receives the request.
package struct EntryValidator: Sendable {
    /// The limits applied.
    package var limits: EntryLimits
    /// At most this many ``Rejection``s are listed per call (all are counted); a stream of
    /// 10 000 stale entries should not produce 10 000 messages.
    package var maxListedRejections: Int

    /// Creates a validator.
    ///
    /// - Parameters:
    ///   - limits: the limits, Loki's defaults unless configured.
    ///   - maxListedRejections: cap on ``ValidationOutcome/rejections``.
    package init(limits: EntryLimits = EntryLimits(), maxListedRejections: Int = 100) {
        self.limits = limits
        self.maxListedRejections = maxListedRejections
    }

    /// Validates decoded content of either shape.
    ///
    /// - Parameter now: the current time, Unix nanoseconds.
    /// - Throws: ``RecordDecodeError`` (reason `.protobuf`) when serialized content is malformed.
    /// - Parameter bounds: extremes over the entries, when the decoder measured them: if every
    ///   entry is within the limits by them, only labels are checked (same outcome, one walk
    ///   less).
    /// - Parameter memo: what earlier calls learnt about label sets (see ``LabelMemo``).
    package func validate(
        _ content: PushContent,
        bounds: EntryBounds? = nil,
        now: Int64,
        memo: inout LabelMemo
    ) throws(RecordDecodeError) -> ValidationOutcome<PushContent> {
        switch content {
        case .protobuf(let bytes):
            let outcome = try validate(protobuf: bytes, bounds: bounds, now: now, memo: &memo)
            return outcome.replacingContent(.protobuf(outcome.content))
        case .streams(let streams):
            let outcome = validate(streams: streams, now: now)
            return outcome.replacingContent(.streams(outcome.content))
        }
    }

    /// ``validate(_:bounds:now:memo:)`` with a memo of its own (one record).
    package func validate(
        _ content: PushContent,
        bounds: EntryBounds? = nil,
        now: Int64
    ) throws(RecordDecodeError) -> ValidationOutcome<PushContent> {
        var memo = LabelMemo()
        return try validate(content, bounds: bounds, now: now, memo: &memo)
    }

    /// Validates decoded streams (the JSON path).
    ///
    /// - Parameter now: the current time, Unix nanoseconds.
    /// - Returns: `streams` itself when nothing needs to change.
    package func validate(streams: [LokiStream], now: Int64) -> ValidationOutcome<[LokiStream]> {
        let window = TimeWindow(now: now, limits: limits)
        var tally = Tally(listLimit: maxListedRejections)
        var scratch = LabelSetParser.Scratch()
        var output: [LokiStream] = []
        var rewriting = false
        for (index, stream) in streams.enumerated() {
            let result = validate(stream, window: window, tally: &tally, scratch: &scratch)
            if case .unchanged = result {
                if rewriting { output.append(stream) }
                continue
            }
            if !rewriting {
                rewriting = true
                output.reserveCapacity(streams.count)
                output.append(contentsOf: streams[..<index])
            }
            if case .replaced(let replacement) = result { output.append(replacement) }
        }
        return tally.outcome(rewriting ? output : streams, isUnchanged: !rewriting)
    }

    private enum StreamResult {
        case unchanged
        case dropped
        case replaced(LokiStream)
    }

    private func validate(
        _ stream: LokiStream,
        window: TimeWindow,
        tally: inout Tally,
        scratch: inout LabelSetParser.Scratch
    ) -> StreamResult {
        guard !stream.entries.isEmpty else { return .unchanged }
        do throws(LabelSetError) {
            try LabelSetParser.validate(stream.labels, limits: limits, scratch: &scratch)
        } catch {
            let reason = RejectionReason.invalidLabels(error.kind)
            var message: String?
            for entry in stream.entries where tally.countRejection(reason) {
                let text = message ?? error.lokiMessage(labels: stream.labels)
                message = text
                tally.list(
                    Rejection(
                        labels: stream.labels,
                        timestampNanos: entry.timestampNanos,
                        reason: reason,
                        message: text
                    )
                )
            }
            return .dropped
        }
        var entries: [LokiEntry] = []
        var rewriting = false
        for (index, entry) in stream.entries.enumerated() {
            let facts = EntryFacts(
                timestampNanos: entry.timestampNanos,
                lineBytes: entry.line.utf8.count,
                metadataCount: entry.structuredMetadata.count,
                metadataBytes: Self.metadataBytes(entry.structuredMetadata)
            )
            let verdict = verdict(facts, window: window)
            if verdict != .keep, !rewriting {
                rewriting = true
                entries.reserveCapacity(stream.entries.count)
                entries.append(contentsOf: stream.entries[..<index])
            }
            switch verdict {
            case .keep:
                tally.kept += 1
                if rewriting { entries.append(entry) }
            case .truncate:
                var cut = entry
                cut.line = Self.truncated(entry.line, limit: limits.maxLineBytes)
                tally.kept += 1
                tally.truncated += 1
                tally.bytesTruncated += facts.lineBytes - cut.line.utf8.count
                entries.append(cut)
            case .reject(let reason):
                if tally.countRejection(reason) {
                    tally.list(
                        Rejection(
                            labels: stream.labels,
                            timestampNanos: entry.timestampNanos,
                            reason: reason,
                            message: message(reason, labels: stream.labels, facts: facts, window: window)
                        )
                    )
                }
            }
        }
        guard rewriting else { return .unchanged }
        return entries.isEmpty ? .dropped : .replaced(LokiStream(labels: stream.labels, entries: entries))
    }

    // MARK: Shared by both paths

    /// The accepted time range, saturating at the `Int64` bounds.
    struct TimeWindow {
        /// Oldest accepted timestamp (`now − maxAge`); older is rejected.
        var oldest: Int64
        /// Newest accepted timestamp (`now + creationGracePeriod`); newer is rejected.
        var newest: Int64

        init(now: Int64, limits: EntryLimits) {
            let age = EntryLimits.nanoseconds(limits.maxAge)
            let grace = EntryLimits.nanoseconds(limits.creationGracePeriod)
            let (oldest, underflow) = now.subtractingReportingOverflow(age)
            self.oldest = underflow ? (age > 0 ? .min : .max) : oldest
            let (newest, overflow) = now.addingReportingOverflow(grace)
            self.newest = overflow ? (grace > 0 ? .max : .min) : newest
        }
    }

    /// What the checks need to know about an entry.
    struct EntryFacts {
        var timestampNanos: Int64
        var lineBytes: Int
        var metadataCount: Int
        var metadataBytes: Int
    }

    /// The decision for one entry.
    enum Verdict: Equatable {
        case keep
        case truncate
        case reject(RejectionReason)
    }

    /// True when every entry within `bounds` gets ``Verdict/keep`` (see ``verdict(_:window:)``).
    func keepsEvery(_ bounds: EntryBounds, window: TimeWindow) -> Bool {
        guard !bounds.hasMetadata, bounds.newestNanos <= window.newest else { return false }
        if limits.rejectOldSamples, bounds.oldestNanos < window.oldest { return false }
        return limits.maxLineBytes <= 0 || bounds.longestLine <= limits.maxLineBytes
    }

    /// Loki's `ValidateEntry`, with truncation (which Loki does first) folded in.
    func verdict(_ facts: EntryFacts, window: TimeWindow) -> Verdict {
        if limits.rejectOldSamples, facts.timestampNanos < window.oldest { return .reject(.tooOld) }
        if facts.timestampNanos > window.newest { return .reject(.tooFarInFuture) }
        let tooLong = limits.maxLineBytes > 0 && facts.lineBytes > limits.maxLineBytes
        if tooLong, limits.oversizePolicy == .reject { return .reject(.lineTooLong) }
        if facts.metadataCount > 0 {
            if !limits.allowStructuredMetadata { return .reject(.structuredMetadataDisallowed) }
            if limits.maxStructuredMetadataBytes > 0, facts.metadataBytes > limits.maxStructuredMetadataBytes {
                return .reject(.structuredMetadataTooLarge)
            }
            if limits.maxStructuredMetadataEntries > 0, facts.metadataCount > limits.maxStructuredMetadataEntries {
                return .reject(.structuredMetadataTooMany)
            }
        }
        return tooLong ? .truncate : .keep
    }

    /// Loki's message for an entry-level `reason`.
    func message(_ reason: RejectionReason, labels: String, facts: EntryFacts, window: TimeWindow) -> String {
        switch reason {
        case .tooOld:
            RejectionMessage.tooOld(labels: labels, timestamp: facts.timestampNanos, oldest: window.oldest)
        case .tooFarInFuture:
            RejectionMessage.tooFarInFuture(labels: labels, timestamp: facts.timestampNanos)
        case .lineTooLong:
            RejectionMessage.lineTooLong(labels: labels, limit: limits.maxLineBytes, length: facts.lineBytes)
        case .structuredMetadataDisallowed:
            RejectionMessage.structuredMetadataDisallowed(labels: labels)
        case .structuredMetadataTooLarge:
            RejectionMessage.structuredMetadataTooLarge(
                labels: labels,
                size: facts.metadataBytes,
                limit: limits.maxStructuredMetadataBytes
            )
        case .structuredMetadataTooMany:
            RejectionMessage.structuredMetadataTooMany(
                labels: labels,
                count: facts.metadataCount,
                limit: limits.maxStructuredMetadataEntries
            )
        case .invalidLabels(let kind):
            "invalid labels: \(kind.lokiReason)"  // Not reached: label errors carry their own message.
        }
    }

    /// Loki's `util.StructuredMetadataSize`: names plus values in bytes, without the
    /// `detected_level` pair Loki adds itself (`ExcludedStructuredMetadataLabels`).
    static func metadataBytes(_ pairs: [LabelPair]) -> Int {
        var size = 0
        for pair in pairs where pair.name != "detected_level" { size += pair.name.utf8.count + pair.value.utf8.count }
        return size
    }

    /// `line` cut to at most `limit` UTF-8 bytes at a character boundary.
    static func truncated(_ line: String, limit: Int) -> String {
        var line = line
        return line.withUTF8 { buffer in
            let keep = UTF8Check.boundary(buffer, 0..<buffer.count, limit: limit)
            return String(decoding: UnsafeBufferPointer(rebasing: buffer[..<keep]), as: UTF8.self)
        }
    }
}

/// Counts and (capped) list of rejections, accumulated over one call.
struct Tally {
    let listLimit: Int
    var kept = 0
    var truncated = 0
    var bytesTruncated = 0
    var rejected = 0
    var byReason: [RejectionReason: Int] = [:]
    var rejections: [Rejection] = []
    var notListed = 0

    init(listLimit: Int) { self.listLimit = max(0, listLimit) }

    /// Counts one rejected entry; returns true when it should be listed with ``list(_:)``.
    mutating func countRejection(_ reason: RejectionReason) -> Bool {
        rejected += 1
        byReason[reason, default: 0] += 1
        guard rejections.count < listLimit else {
            notListed += 1
            return false
        }
        return true
    }

    /// Lists a rejection counted with ``countRejection(_:)``.
    mutating func list(_ rejection: Rejection) { rejections.append(rejection) }

    func outcome<Content: Sendable>(_ content: Content, isUnchanged: Bool) -> ValidationOutcome<Content> {
        ValidationOutcome(
            content: content,
            isUnchanged: isUnchanged,
            entriesKept: kept,
            entriesTruncated: truncated,
            bytesTruncated: bytesTruncated,
            entriesRejected: rejected,
            rejectedByReason: byReason,
            rejections: rejections,
            rejectionsNotListed: notListed
        )
    }
}
