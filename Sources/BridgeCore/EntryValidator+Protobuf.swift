extension EntryValidator {
    /// Validates a serialized, uncompressed `PushRequest` (the protobuf fast path).
    ///
    /// The request is walked with ``ProtoWireReader``; entries are never decoded into values.
    /// When nothing needs to change, `bytes` itself is returned (`isUnchanged`), and the only
    /// allocations are the label parser's scratch buffers (once per call). Otherwise streams that
    /// need no change are copied byte for byte, and changed streams are re-encoded with their kept
    /// entries copied byte for byte, truncated lines replaced in place (timestamps, structured
    /// metadata and unknown fields untouched), rejected entries left out and streams left without
    /// entries dropped. Fields other than `streams` are copied unchanged.
    ///
    /// - Parameter now: the current time, Unix nanoseconds.
    /// - Throws: ``RecordDecodeError`` with reason `.protobuf` when the request is malformed
    ///   (including a malformed timestamp or structured metadata pair).
    /// - Parameter bounds: extremes over the entries of `bytes` (``LokiProtobufScanner``); when
    ///   they show every entry within the limits, only the labels are checked.
    /// - Parameter memo: label texts found valid before, kept across calls by the caller (see
    ///   ``LabelMemo``); a label text in it is not parsed again.
    package func validate(
        protobuf bytes: [UInt8], bounds: EntryBounds? = nil, now: Int64, memo: inout LabelMemo
    ) throws(RecordDecodeError) -> ValidationOutcome<[UInt8]> {
        if memo.validatedUnder != limits {
            memo.validLabelTexts.removeAll()
            memo.validatedUnder = limits
        }
        let window = TimeWindow(now: now, limits: limits)
        var pass = ProtobufPass(validator: self, window: window)
        // Moved in and out, not copied: the pass's stores must not copy the memo.
        swap(&pass.knownValid, &memo.validLabelTexts)
        defer { swap(&pass.knownValid, &memo.validLabelTexts) }
        if let bounds, keepsEvery(bounds, window: window) {
            let labelsValid = try bytes.withUnsafeBufferPointer { (buffer) throws(RecordDecodeError) in
                try pass.labelsOnly(buffer, entries: bounds.entries)
            }
            if labelsValid { return pass.tally.outcome(bytes, isUnchanged: true) }
            // A stream is refused: the full pass says which entries.
            var fresh = ProtobufPass(validator: self, window: window)
            swap(&fresh.knownValid, &pass.knownValid)
            pass = consume fresh  // one owner of the memo, so its next store does not copy it
        }
        try bytes.withUnsafeBufferPointer { (buffer) throws(RecordDecodeError) in
            try pass.run(buffer)
        }
        guard pass.rewriting else { return pass.tally.outcome(bytes, isUnchanged: true) }
        return pass.tally.outcome(pass.output, isUnchanged: false)
    }

    /// ``validate(protobuf:bounds:now:memo:)`` with a memo of its own (one request).
    package func validate(
        protobuf bytes: [UInt8], bounds: EntryBounds? = nil, now: Int64
    ) throws(RecordDecodeError) -> ValidationOutcome<[UInt8]> {
        var memo = LabelMemo()
        return try validate(protobuf: bytes, bounds: bounds, now: now, memo: &memo)
    }
}

/// One protobuf validation: accounting, scratch buffers and (once something changes) the output.
private struct ProtobufPass {
    let validator: EntryValidator
    let window: EntryValidator.TimeWindow
    var tally: Tally
    var scratch = LabelSetParser.Scratch()
    /// The rewritten request; only used once ``rewriting`` is set.
    var output: [UInt8] = []
    var rewriting = false
    var streamBody: [UInt8] = []
    var entryBody: [UInt8] = []
    /// The last label bytes validated and their result: consecutive streams often share labels.
    var lastLabels: Range<Int>?
    var lastLabelError: LabelSetError?
    /// Label texts found valid under these limits, in earlier requests too (the caller's).
    var knownValid = ByteMemo<Bool>(capacity: 1)

    init(validator: EntryValidator, window: EntryValidator.TimeWindow) {
        self.validator = validator
        self.window = window
        self.tally = Tally(listLimit: validator.maxListedRejections)
    }

    private enum StreamPlan {
        case unchanged
        case drop
        case rewrite
    }

    /// An entry as the checks see it, plus where its line is.
    private struct WireEntry {
        var facts: EntryValidator.EntryFacts
        var line: Range<Int>
    }

    mutating func run(_ buffer: UnsafeBufferPointer<UInt8>) throws(RecordDecodeError) {
        var reader = ProtoWireReader(buffer)
        while !reader.isAtEnd {
            let fieldStart = reader.position
            let (field, wireType) = try reader.readTag()
            guard field == 1 else {
                try reader.skip(wireType: wireType)
                if rewriting { copy(buffer, fieldStart..<reader.position) }
                continue
            }
            guard wireType == 2 else {
                throw RecordDecodeError(.protobuf, "PushRequest.streams has wire type \(wireType)")
            }
            let body = try reader.readLengthDelimited()
            switch try examine(buffer, stream: body) {
            case .unchanged:
                if rewriting { copy(buffer, fieldStart..<body.upperBound) }
            case .drop:
                startRewriting(buffer, upTo: fieldStart)
            case .rewrite:
                startRewriting(buffer, upTo: fieldStart)
                try rewrite(buffer, stream: body)
            }
        }
    }

    /// Checks only the labels of every stream with entries, counting those entries as kept:
    /// the outcome of ``run(_:)`` when every entry is within the limits. Returns false at the
    /// first stream with invalid labels, or when the request does not hold exactly `expected`
    /// entries (the bounds were not measured on it); the caller then runs the full pass.
    mutating func labelsOnly(_ buffer: UnsafeBufferPointer<UInt8>, entries expected: Int) throws(RecordDecodeError) -> Bool {
        var reader = ProtoWireReader(buffer)
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            guard field == 1 else {
                try reader.skip(wireType: wireType)
                continue
            }
            guard wireType == 2 else {
                throw RecordDecodeError(.protobuf, "PushRequest.streams has wire type \(wireType)")
            }
            let (labels, entries) = try Self.labelsAndEntryCount(buffer, stream: try reader.readLengthDelimited())
            guard entries > 0 else { continue }  // Loki skips streams without entries
            if labelError(buffer, labels) != nil { return false }
            tally.kept += entries
        }
        return tally.kept == expected
    }

    // MARK: Checking

    /// Counts the stream's entries by verdict and says what to do with the stream.
    private mutating func examine(
        _ buffer: UnsafeBufferPointer<UInt8>,
        stream body: Range<Int>
    ) throws(RecordDecodeError)
        -> StreamPlan
    {
        let (labels, entries) = try Self.labelsAndEntryCount(buffer, stream: body)
        // Loki skips streams without entries before looking at their labels.
        guard entries > 0 else { return .unchanged }
        var labelText: String?
        func text() -> String {
            if let labelText { return labelText }
            let made = String(decoding: UnsafeBufferPointer(rebasing: buffer[labels]), as: UTF8.self)
            labelText = made
            return made
        }
        if let error = labelError(buffer, labels) {
            let reason = RejectionReason.invalidLabels(error.kind)
            var message: String?
            try Self.forEachEntry(buffer, stream: body) { (entry) throws(RecordDecodeError) in
                guard tally.countRejection(reason) else { return }
                let timestamp = try Self.read(buffer, entry: entry).facts.timestampNanos
                let made = message ?? error.lokiMessage(labels: text())
                message = made
                tally.list(Rejection(labels: text(), timestampNanos: timestamp, reason: reason, message: made))
            }
            return .drop
        }
        var changed = false
        try Self.forEachEntry(buffer, stream: body) { (range) throws(RecordDecodeError) in
            let entry = try Self.read(buffer, entry: range)
            switch validator.verdict(entry.facts, window: window) {
            case .keep:
                tally.kept += 1
            case .truncate:
                changed = true
                tally.kept += 1
                tally.truncated += 1
                tally.bytesTruncated +=
                    entry.line.count - UTF8Check.boundary(buffer, entry.line, limit: validator.limits.maxLineBytes)
            case .reject(let reason):
                changed = true
                guard tally.countRejection(reason) else { return }
                tally.list(
                    Rejection(
                        labels: text(),
                        timestampNanos: entry.facts.timestampNanos,
                        reason: reason,
                        message: validator.message(reason, labels: text(), facts: entry.facts, window: window)
                    )
                )
            }
        }
        return changed ? .rewrite : .unchanged
    }

    /// The label error of `buffer[labels]`, remembered for the next stream with the same labels.
    private mutating func labelError(_ buffer: UnsafeBufferPointer<UInt8>, _ labels: Range<Int>) -> LabelSetError? {
        if let last = lastLabels, last.count == labels.count,
            UnsafeBufferPointer(rebasing: buffer[last]).elementsEqual(UnsafeBufferPointer(rebasing: buffer[labels]))
        {
            return lastLabelError
        }
        lastLabels = labels
        let text = UnsafeBufferPointer(rebasing: buffer[labels])
        if knownValid.value(for: text) == true {
            lastLabelError = nil
            return nil
        }
        do throws(LabelSetError) {
            try LabelSetParser.validate(text, limits: validator.limits, scratch: &scratch)
            lastLabelError = nil
            knownValid.store(true, for: text)
        } catch {
            lastLabelError = error
        }
        return lastLabelError
    }

    // MARK: Rewriting

    private mutating func startRewriting(_ buffer: UnsafeBufferPointer<UInt8>, upTo end: Int) {
        guard !rewriting else { return }
        rewriting = true
        output.reserveCapacity(buffer.count)
        copy(buffer, 0..<end)
    }

    private mutating func copy(_ buffer: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {
        output.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[range]))
    }

    /// Re-encodes a stream whose labels are valid with its kept entries; nothing if none is kept.
    private mutating func rewrite(
        _ buffer: UnsafeBufferPointer<UInt8>,
        stream body: Range<Int>
    ) throws(RecordDecodeError) {
        streamBody.removeAll(keepingCapacity: true)
        var kept = 0
        var reader = ProtoWireReader(buffer, start: body.lowerBound, end: body.upperBound)
        while !reader.isAtEnd {
            let fieldStart = reader.position
            let (field, wireType) = try reader.readTag()
            guard field == 2, wireType == 2 else {
                try reader.skip(wireType: wireType)
                streamBody.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[fieldStart..<reader.position]))
                continue
            }
            let range = try reader.readLengthDelimited()
            let entry = try Self.read(buffer, entry: range)
            switch validator.verdict(entry.facts, window: window) {
            case .keep:
                streamBody.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[fieldStart..<range.upperBound]))
                kept += 1
            case .truncate:
                try appendTruncated(buffer, entry: range, line: entry.line)
                kept += 1
            case .reject:
                break
            }
        }
        if kept > 0 { ProtoWireWriter.appendLengthDelimited(field: 1, streamBody, to: &output) }
    }

    /// Appends the entry at `buffer[range]` to ``streamBody`` with its line (the last `line`
    /// field, at `line`) cut at a UTF-8 boundary; every other field is copied as it is, in order.
    private mutating func appendTruncated(
        _ buffer: UnsafeBufferPointer<UInt8>,
        entry range: Range<Int>,
        line: Range<Int>
    ) throws(RecordDecodeError) {
        entryBody.removeAll(keepingCapacity: true)
        var reader = ProtoWireReader(buffer, start: range.lowerBound, end: range.upperBound)
        while !reader.isAtEnd {
            let fieldStart = reader.position
            let (field, wireType) = try reader.readTag()
            guard field == 2, wireType == 2 else {
                try reader.skip(wireType: wireType)
                entryBody.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[fieldStart..<reader.position]))
                continue
            }
            let payload = try reader.readLengthDelimited()
            // An earlier duplicate `line` field is superseded by the last one; drop it.
            guard payload == line else { continue }
            let keep = UTF8Check.boundary(buffer, line, limit: validator.limits.maxLineBytes)
            ProtoWireWriter.appendLengthDelimited(
                field: 2,
                UnsafeBufferPointer(rebasing: buffer[line.lowerBound..<(line.lowerBound + keep)]),
                to: &entryBody
            )
        }
        ProtoWireWriter.appendLengthDelimited(field: 2, entryBody, to: &streamBody)
    }

    // MARK: Wire reading

    /// Where the (last) `labels` field of the stream at `body` is, and how many entries it has.
    private static func labelsAndEntryCount(
        _ buffer: UnsafeBufferPointer<UInt8>,
        stream body: Range<Int>
    ) throws(RecordDecodeError) -> (labels: Range<Int>, entries: Int) {
        var reader = ProtoWireReader(buffer, start: body.lowerBound, end: body.upperBound)
        var labels = body.lowerBound..<body.lowerBound
        var entries = 0
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, 2): labels = try reader.readLengthDelimited()
            case (2, 2):
                _ = try reader.readLengthDelimited()
                entries += 1
            case (1, _), (2, _):
                throw RecordDecodeError(.protobuf, "StreamAdapter field \(field) has wire type \(wireType)")
            default: try reader.skip(wireType: wireType)
            }
        }
        return (labels, entries)
    }

    /// Calls `visit` with the payload range of each `entries` field of the stream at `body`.
    private static func forEachEntry(
        _ buffer: UnsafeBufferPointer<UInt8>,
        stream body: Range<Int>,
        _ visit: (Range<Int>) throws(RecordDecodeError) -> Void
    ) throws(RecordDecodeError) {
        var reader = ProtoWireReader(buffer, start: body.lowerBound, end: body.upperBound)
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            if field == 2, wireType == 2 {
                try visit(try reader.readLengthDelimited())
            } else {
                try reader.skip(wireType: wireType)
            }
        }
    }

    /// Reads `EntryAdapter { Timestamp timestamp = 1; string line = 2; repeated
    /// LabelPairAdapter structuredMetadata = 3 }`. A missing timestamp is the epoch (as Loki
    /// decodes it); repeated singular fields follow protobuf's rules (last wins, messages merge).
    private static func read(
        _ buffer: UnsafeBufferPointer<UInt8>,
        entry range: Range<Int>
    ) throws(RecordDecodeError)
        -> WireEntry
    {
        var reader = ProtoWireReader(buffer, start: range.lowerBound, end: range.upperBound)
        var seconds: Int64 = 0
        var nanos: Int32 = 0
        var line = range.lowerBound..<range.lowerBound
        var metadataCount = 0
        var metadataBytes = 0
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, 2):
                let timestamp = try reader.readLengthDelimited()
                try LokiEntryWire.readTimestamp(buffer, timestamp, seconds: &seconds, nanos: &nanos)
            case (2, 2):
                line = try reader.readLengthDelimited()
            case (3, 2):
                let pair = try reader.readLengthDelimited()
                metadataCount += 1
                metadataBytes += try metadataSize(buffer, pair)
            case (1, _), (2, _), (3, _):
                throw RecordDecodeError(.protobuf, "EntryAdapter field \(field) has wire type \(wireType)")
            default:
                try reader.skip(wireType: wireType)
            }
        }
        let timestamp = LokiEntryWire.unixNanos(seconds: seconds, nanos: nanos)
        return WireEntry(
            facts: EntryValidator.EntryFacts(
                timestampNanos: timestamp,
                lineBytes: line.count,
                metadataCount: metadataCount,
                metadataBytes: metadataBytes
            ),
            line: line
        )
    }

    /// `len(name) + len(value)` of a `LabelPairAdapter { string name = 1; string value = 2 }`,
    /// 0 for `detected_level` (see ``EntryValidator/metadataBytes(_:)``).
    private static func metadataSize(
        _ buffer: UnsafeBufferPointer<UInt8>,
        _ range: Range<Int>
    ) throws(RecordDecodeError)
        -> Int
    {
        var reader = ProtoWireReader(buffer, start: range.lowerBound, end: range.upperBound)
        var name = range.lowerBound..<range.lowerBound
        var value = range.lowerBound..<range.lowerBound
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, 2): name = try reader.readLengthDelimited()
            case (2, 2): value = try reader.readLengthDelimited()
            case (1, _), (2, _):
                throw RecordDecodeError(.protobuf, "LabelPairAdapter field \(field) has wire type \(wireType)")
            default: try reader.skip(wireType: wireType)
            }
        }
        if UnsafeBufferPointer(rebasing: buffer[name]).elementsEqual("detected_level".utf8) { return 0 }
        return name.count + value.count
    }
}
