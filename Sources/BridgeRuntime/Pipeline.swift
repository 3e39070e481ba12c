import BridgeCore
import Foundation
import KafkaInput
import Logging
import NIOConcurrencyHelpers

/// Connects the consumer to the pushers: decodes records, registers them with the offset
/// tracker, batches them per tenant, queues batches per tenant lane, and marks records done
/// when their batch was accepted (or permanently rejected) by Loki.
///
/// All mutable state lives in one ``State`` behind a lock; the consumer's poll thread and the
/// push tasks only hold it for bookkeeping, never for I/O or decoding.
package final class Pipeline: ConsumerDelegate, Sendable {
    struct State {
        var tracker = OffsetTracker()
        var batcher: Batcher
        /// Batches waiting per tenant lane, oldest first.
        var queues: [String?: [PushBatch]] = [:]
        /// Tenants with a push in flight (one at a time per tenant keeps stream order).
        var busyLanes: Set<String?> = []
        /// Bytes held for records not done yet (the memory budget): see `DecodedRecord.heldBytes`.
        var inFlightBytes = 0
        var paused = false
        /// Set once shutdown drained the pipeline: the final revoke must not wait again.
        var shuttingDown = false
        /// Next offset to read per partition, and the latest log ends seen (for catching up).
        var positions: [TopicPartition: Int64] = [:]
        var highWatermarks: [TopicPartition: Int64] = [:]
    }

    private let state: NIOLockedValueBox<State>
    /// Signalled whenever records complete, for threads waiting in revoke.
    private let completion = NSCondition()
    private let decoder: RecordDecoder
    private let configuration: BridgeConfiguration
    private let metrics: BridgeMetrics
    private let logger: Logger
    private let wakeScheduler: @Sendable () -> Void
    private let deadLetters: DeadLetterRouter?
    /// Whether intake must pause whatever the memory budget says (Loki's circuit is open).
    private let holdIntake: @Sendable () -> Bool
    private let validator: EntryValidator?
    /// Label sets read and checked before; only the poll thread decodes, so the lock is
    /// uncontended (taken once per `consume` call, which the consumer makes per record).
    private let labelMemo = NIOLockedValueBox(LabelMemo())
    /// Records it refuses are skipped (done at once): `dlq replay`'s selection.
    private let recordFilter: (@Sendable (KafkaRecord) -> Bool)?

    /// How a batch's delivery ended, as far as its records are concerned.
    package enum BatchResult: Sendable, Equatable {
        /// Loki accepted it: every record is done.
        case delivered
        /// Loki rejected it for good: its records go to the dead-letter topic (done once
        /// acknowledged there), or are done at once when no dead-letter topic is configured.
        case rejected(status: Int?, message: String)
        /// Not delivered (shutdown interrupted it): nothing is done.
        case notDelivered
        /// Its records now belong to another consumer or were done by a copy: nothing to do,
        /// and nothing may be marked done on its behalf.
        case abandoned
    }

    /// Creates the pipeline.
    ///
    /// - Parameter wakeScheduler: called when batches become ready to push.
    package init(
        configuration: BridgeConfiguration, decoder: RecordDecoder, metrics: BridgeMetrics, logger: Logger,
        deadLetters: DeadLetterRouter? = nil, holdIntake: @escaping @Sendable () -> Bool = { false },
        recordFilter: (@Sendable (KafkaRecord) -> Bool)? = nil, wakeScheduler: @escaping @Sendable () -> Void
    ) {
        self.recordFilter = recordFilter
        self.deadLetters = deadLetters
        self.holdIntake = holdIntake
        self.validator = configuration.validation.enabled ? EntryValidator(limits: configuration.validation.limits) : nil
        self.configuration = configuration
        self.decoder = decoder
        self.metrics = metrics
        self.logger = logger
        self.wakeScheduler = wakeScheduler
        state = NIOLockedValueBox(
            State(batcher: Batcher(maxBytes: configuration.batch.maxBytes, maxWait: configuration.batch.wait)))
    }

    // MARK: - Consumer side (poll thread)

    package func consume(_ records: [KafkaRecord]) {
        let now = ContinuousClock.now
        let wallNanos = Self.nowMillis() * 1_000_000
        let selected = recordFilter.map { filter in records.map(filter) } ?? []
        let decoded = labelMemo.withLockedValue { memo in
            records.enumerated().map { index, record in
                Result { () throws(RecordDecodeError) in
                    guard selected.isEmpty || selected[index] else { return Prepared.skipped }
                    return try validated(decoder.decode(record, memo: &memo), now: wallNanos, memo: &memo)
                }
            }
        }
        var ready: [PushBatch] = []
        var letters: [(RecordTicket, DeadLetter)] = []
        let keepSources = deadLetters != nil
        state.withLockedValue { state in
            for (record, result) in zip(records, decoded) {
                state.positions[record.topicPartition] = record.offset + 1
                switch result {
                case .success(let prepared) where prepared.isSkipped:
                    _ = state.tracker.register(record.topicPartition, offset: record.offset, pieces: 0)
                case .success(let prepared):
                    // Pieces: the push of the valid entries, and the dead letter of a record
                    // with entries Loki would reject; the record is done when both are.
                    let push = prepared.record.entryCount > 0
                    let letter = prepared.rejected.flatMap { rejected in keepSources ? rejected : nil }
                    // A record larger than a batch travels in several pieces (whole streams).
                    let parts = push ? Self.parts(of: prepared.record, maxBytes: configuration.batch.maxBytes) : []
                    let pieces = parts.count + (letter == nil ? 0 : 1)
                    guard let ticket = state.tracker.register(record.topicPartition, offset: record.offset, pieces: pieces)
                    else { continue }
                    if let letter {
                        state.inFlightBytes += record.footprintBytes
                        letters.append((ticket, DeadLetter(
                            record: record, reason: letter.reason, detail: letter.detail, tenant: prepared.record.tenant,
                            firstFailureMillis: Self.nowMillis())))
                    }
                    for (index, part) in parts.enumerated() {
                        // The source record and its bytes are accounted with the first piece.
                        let bytes = part.heldBytes + (keepSources && index == 0 ? record.footprintBytes : 0)
                        state.inFlightBytes += bytes
                        ready += state.batcher.add(
                            part, ticket: ticket, sourceBytes: bytes, now: now,
                            source: keepSources ? record : nil)
                    }
                case .failure(let error):
                    guard keepSources else {
                        // No dead-letter topic: nothing to push, done at once (logged and counted).
                        _ = state.tracker.register(record.topicPartition, offset: record.offset, pieces: 0)
                        continue
                    }
                    // Done only once the dead-letter topic acknowledged it.
                    guard let ticket = state.tracker.register(record.topicPartition, offset: record.offset) else { continue }
                    state.inFlightBytes += record.footprintBytes
                    letters.append((ticket, DeadLetter(
                        record: record, reason: error.reason.rawValue, detail: error.detail,
                        tenant: record.header(RecordDecoder.tenantHeader), firstFailureMillis: Self.nowMillis())))
                }
            }
            enqueue(ready, in: &state)
        }
        recordConsumption(records, decoded)
        if !ready.isEmpty { wakeScheduler() }
        for (ticket, letter) in letters {
            deadLetters?.send(letter) { [self] in complete([ticket], releasing: letter.record.footprintBytes) }
        }
    }

    /// `record` as one piece, or split at stream boundaries when it is larger than a batch.
    static func parts(of record: DecodedRecord, maxBytes: Int) -> [DecodedRecord] {
        guard record.encodedBytes > maxBytes else { return [record] }
        let pieces = PushContentSplitter.split(record.content, maxBytes: maxBytes)
        guard pieces.count > 1 else { return [record] }
        return pieces.map { piece in
            var part = record
            part.content = piece
            part.compressed = nil
            switch piece {
            case .protobuf(let bytes):
                // The bytes were scanned whole already; the pieces are runs of its streams.
                let summary = try? LokiProtobufScanner.scan(bytes).0
                (part.streamCount, part.entryCount, part.lineBytes, part.encodedBytes) =
                    (summary?.streams ?? 0, summary?.entries ?? 0, summary?.lineBytes ?? 0, bytes.count)
            case .streams(let streams):
                part.streamCount = streams.count
                part.entryCount = streams.reduce(0) { $0 + $1.entries.count }
                part.lineBytes = streams.reduce(0) { $0 + $1.entries.reduce(0) { $0 + $1.line.utf8.count } }
                part.encodedBytes = streams.reduce(0) { $0 + PushContentSplitter.approximateSize($1) }
            }
            return part
        }
    }

    private static func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// A decoded record after the checks Loki would apply, and what they refused.
    struct Prepared: Sendable {
        /// The record with only the entries Loki will accept (lines truncated by policy).
        var record: DecodedRecord
        /// Why some entries were refused (for the dead-letter topic), if any were.
        var rejected: (reason: String, detail: String)?
        var truncated: Int
        var rejectedEntries: Int
        /// Not selected by the record filter: nothing to do.
        var isSkipped = false

        static let skipped = Prepared(
            record: DecodedRecord(tenant: nil, content: .streams([]), streamCount: 0, entryCount: 0, lineBytes: 0, encodedBytes: 0),
            rejected: nil, truncated: 0, rejectedEntries: 0, isSkipped: true)
    }

    /// Applies Loki's limits before anything is sent, so a push is not refused with 400 for
    /// entries the bridge could have known about (too old, too far in the future, too long,
    /// bad labels).
    private func validated(
        _ record: DecodedRecord, now: Int64, memo: inout LabelMemo
    ) throws(RecordDecodeError) -> Prepared {
        guard let validator else { return Prepared(record: record, rejected: nil, truncated: 0, rejectedEntries: 0) }
        let outcome = try validator.validate(record.content, bounds: record.entryBounds, now: now, memo: &memo)
        guard !outcome.isUnchanged else {
            return Prepared(record: record, rejected: nil, truncated: 0, rejectedEntries: 0)
        }
        var checked = record
        checked.content = outcome.content
        checked.compressed = nil  // the received block no longer holds the content
        checked.entryBounds = nil
        checked.entryCount = outcome.entriesKept
        if case .protobuf(let bytes) = outcome.content { checked.encodedBytes = bytes.count }
        var rejected: (String, String)?
        if outcome.entriesRejected > 0 {
            let main = outcome.rejectedByReason.max { $0.value < $1.value }?.key
            let counts = outcome.rejectedByReason.map { "\($0.value) \($0.key.lokiReason)" }.sorted().joined(separator: ", ")
            let first = outcome.rejections.first?.message ?? ""
            rejected = (
                main?.lokiReason ?? "invalid_entries",
                "\(outcome.entriesRejected) of \(outcome.entriesRejected + outcome.entriesKept) entries refused before the push (\(counts)): \(first)"
            )
        }
        return Prepared(
            record: checked, rejected: rejected, truncated: outcome.entriesTruncated, rejectedEntries: outcome.entriesRejected)
    }

    /// Marks records done and releases their bytes from the memory budget.
    private func complete(_ tickets: [RecordTicket], releasing bytes: Int) {
        state.withLockedValue { state in
            for ticket in tickets { state.tracker.complete(ticket) }
            state.inFlightBytes -= bytes
        }
        completion.lock()
        completion.broadcast()
        completion.unlock()
    }

    private func recordConsumption(_ records: [KafkaRecord], _ decoded: [Result<Prepared, RecordDecodeError>]) {
        for (record, result) in zip(records, decoded) {
            let entries = (try? result.get()).map { $0.record.entryCount + $0.rejectedEntries } ?? 0
            metrics.consumed(record.topicPartition, bytes: record.value?.count ?? 0, entries: entries)
            switch result {
            case .success(let prepared):
                if prepared.truncated > 0 { metrics.entriesTruncated(count: prepared.truncated) }
                if let rejected = prepared.rejected {
                    metrics.entriesRefused(reason: rejected.reason, count: prepared.rejectedEntries)
                    logger.warning(
                        deadLetters == nil
                            ? "entries Loki would refuse were dropped" : "entries Loki would refuse: record goes to the dead-letter topic too",
                        metadata: [
                            "kafka.topic": "\(record.topicPartition.topic)", "kafka.partition": "\(record.topicPartition.partition)",
                            "kafka.offset": "\(record.offset)", "loki.tenant": "\(prepared.record.tenant ?? "")",
                            "error.type": "\(rejected.reason)", "error.message": "\(rejected.detail)",
                        ])
                }
            case .failure(let error):
                metrics.recordFailed(topic: record.topicPartition.topic, reason: error.reason.rawValue)
                logger.error(
                    deadLetters == nil ? "undecodable record skipped" : "undecodable record, sending it to the dead-letter topic",
                    metadata: [
                        "kafka.topic": "\(record.topicPartition.topic)", "kafka.partition": "\(record.topicPartition.partition)",
                        "kafka.offset": "\(record.offset)", "error.type": "\(error.reason.rawValue)",
                        "error.message": "\(error.detail)",
                    ])
            }
        }
    }

    package func partitionsAssigned(_ partitions: [TopicPartition], committedOffsets: [TopicPartition: Int64]) {
        state.withLockedValue { state in
            state.tracker.assign(partitions)
            for (partition, offset) in committedOffsets { state.tracker.markCommitted(partition, offset: offset) }
            metrics.assignedPartitions(state.tracker.assigned.count)
        }
    }

    package func partitionsRevoked(_ partitions: [TopicPartition], lost: Bool) -> [TopicPartition: Int64] {
        if !lost, !state.withLockedValue({ $0.shuttingDown }) {
            flushAll()
            let deadline = Date(timeIntervalSinceNow: configuration.kafka.revokeTimeout.seconds)
            completion.lock()
            while pending(partitions) > 0, completion.wait(until: deadline) {}
            completion.unlock()
            let left = pending(partitions)
            if left > 0 {
                logger.warning(
                    "revoke timeout: releasing partitions with records not yet in Loki; the next owner redelivers them",
                    metadata: ["kafka.records": "\(left)", "kafka.partitions": "\(partitions.map(\.description).joined(separator: ","))"])
            }
        }
        return state.withLockedValue { state in
            var offsets: [TopicPartition: Int64] = [:]
            for partition in partitions {
                if let next = state.tracker.committable(partition), next != state.tracker.committed(partition) {
                    offsets[partition] = next
                }
                state.tracker.revoke(partition)
                metrics.forgetLag(partition)
            }
            metrics.assignedPartitions(state.tracker.assigned.count)
            return lost ? [:] : offsets
        }
    }

    package func commitCandidates() -> [TopicPartition: Int64] {
        state.withLockedValue { $0.tracker.commitCandidates() }
    }

    package func committed(_ offsets: [TopicPartition: Int64], error: KafkaInputError?) {
        state.withLockedValue { state in
            for (partition, offset) in offsets { state.tracker.markCommitted(partition, offset: offset) }
        }
        if !offsets.isEmpty { metrics.commit(success: true) }
        if error != nil { metrics.commit(success: false) }
    }

    package func intakeShouldPause(currentlyPaused: Bool) -> Bool {
        let hold = holdIntake()
        let (bytes, records, paused) = state.withLockedValue { state -> (Int, Int, Bool) in
            let limit = configuration.maxInFlightBytes
            // Hysteresis: resume only below 3/4 of the budget so intake does not flap.
            state.paused =
                hold || (currentlyPaused ? state.inFlightBytes > limit * 3 / 4 : state.inFlightBytes > limit)
            return (state.inFlightBytes, state.tracker.totalPending, state.paused)
        }
        // Intake stops: no record will come to fill the open batches before pushes free memory,
        // and only pushes free it. Waiting out batch.wait would stall intake for up to that long
        // (with many tenants, open batches alone can fill the budget), and a stop that long turns
        // a hold into a pause of the partitions. (Only the poll thread adds records, and it is
        // the caller, so nothing can join a batch between the decision and the seal.)
        if paused, !currentlyPaused { seal { $0.intakeStopped() } }
        metrics.inFlight(bytes: bytes, records: records)
        metrics.intakePaused(paused)
        return paused
    }

    package func intakeChanged(_ action: IntakeGate.Action) {
        switch action {
        case .hold: metrics.intakeHeld()
        case .pausePartitions: metrics.intakePartitionsPaused()
        case .none, .release, .pausePartitionsForShutdown, .resumePartitions: break
        }
    }

    package func consumerError(code: String) { metrics.consumerError(code: code) }

    package func observedHighWatermarks(_ watermarks: [TopicPartition: Int64]) {
        let committed = state.withLockedValue { state in
            state.highWatermarks.merge(watermarks) { $1 }
            return watermarks.keys.map { ($0, state.tracker.committed($0)) }
        }
        for (partition, offset) in committed {
            guard let offset, let high = watermarks[partition] else { continue }
            metrics.lag(partition, records: max(0, high - offset))
        }
    }

    // MARK: - Push side

    /// Moves batches that waited `batch.wait` to their lanes.
    package func flushDue(now: ContinuousClock.Instant = .now) {
        seal { $0.due(now: now) }
    }

    /// The consumer read everything fetched: the tails of backlogs go to their lanes now
    /// instead of after `batch.wait` (see ``Batcher/caughtUp()``).
    package func caughtUp() {
        seal { $0.caughtUp() }
    }

    /// Moves every open batch to its lane (revoke, shutdown).
    package func flushAll() {
        seal { $0.drain() }
    }

    /// Moves the batches `take` seals to their lanes and wakes the scheduler if there were any.
    private func seal(_ take: (inout Batcher) -> [PushBatch]) {
        let sealed = state.withLockedValue { state in
            let batches = take(&state.batcher)
            enqueue(batches, in: &state)
            return !batches.isEmpty
        }
        if sealed { wakeScheduler() }
    }

    /// Takes batches for idle lanes, up to `limit` lanes busy in total; each returned batch's
    /// lane is busy until ``finish(_:accepted:)``.
    package func takeWork(limit: Int) -> [PushBatch] {
        state.withLockedValue { state in
            var work: [PushBatch] = []
            // Oldest batch first across tenants, so no tenant starves another.
            let waiting = state.queues.filter { !$0.value.isEmpty && !state.busyLanes.contains($0.key) }
                .sorted { $0.value[0].id < $1.value[0].id }
            for (tenant, _) in waiting where state.busyLanes.count < limit {
                state.busyLanes.insert(tenant)
                var queue = state.queues.removeValue(forKey: tenant)!
                var batch = queue.removeFirst()
                // Batches that queued up behind a slow push go together, up to the size limit.
                while let next = queue.first, batch.encodedBytes + next.encodedBytes <= configuration.batch.maxBytes {
                    batch.append(queue.removeFirst())
                }
                if !queue.isEmpty { state.queues[tenant] = queue }
                work.append(batch)
            }
            return work
        }
    }

    /// Frees the batch's lane and settles its records according to `result`.
    package func finish(_ batch: PushBatch, result: BatchResult) {
        state.withLockedValue { state in
            state.busyLanes.remove(batch.tenant)
            switch result {
            case .notDelivered: return
            case .abandoned: state.inFlightBytes -= batch.sourceBytes
            case .delivered: break
            case .rejected: if deadLetters != nil { return }
            }
        }
        switch result {
        case .delivered:
            complete(batch.tickets, releasing: batch.sourceBytes)
        case .rejected(let status, let message):
            guard let deadLetters, batch.sources.count == batch.tickets.count else {
                complete(batch.tickets, releasing: batch.sourceBytes)
                break
            }
            let share = batch.sourceBytes / max(1, batch.tickets.count)
            let now = Self.nowMillis()
            for (index, (ticket, source)) in zip(batch.tickets, batch.sources).enumerated() {
                // The last record releases the remainder, so the budget returns to exactly zero.
                let bytes = index == batch.tickets.count - 1 ? batch.sourceBytes - share * index : share
                let letter = DeadLetter(
                    record: source, reason: DeadLetter.lokiRejected, detail: "Loki rejected the batch holding this record",
                    tenant: batch.tenant, lokiStatus: status, lokiMessage: message, firstFailureMillis: now)
                deadLetters.send(letter) { [self] in complete([ticket], releasing: bytes) }
            }
        case .notDelivered, .abandoned:
            break
        }
        wakeScheduler()
    }

    /// ``finish(_:result:)`` for callers that only know whether the batch was delivered.
    package func finish(_ batch: PushBatch, done: Bool) {
        finish(batch, result: done ? .delivered : .notDelivered)
    }

    /// Marks the start of shutdown: the shutdown deadline replaces the revoke timeout.
    package func beginShutdown() { state.withLockedValue { $0.shuttingDown = true } }

    /// Whether any record of `batch` is still waiting for it. After a revoke, a lost
    /// assignment or a rewind, a batch may carry only records that belong elsewhere now (or
    /// were done by a copy): retrying it would only hold its lane and its memory.
    package func isStillNeeded(_ batch: PushBatch) -> Bool {
        state.withLockedValue { state in batch.tickets.contains { state.tracker.isPending($0) } }
    }

    /// Whether every assigned partition was read up to the log end last reported for it and
    /// nothing is left to do (`dlq replay` stops there).
    package var isCaughtUp: Bool {
        state.withLockedValue { state in
            let assigned = state.tracker.assigned
            guard !assigned.isEmpty, state.tracker.totalPending == 0, state.batcher.isEmpty else { return false }
            return assigned.allSatisfy { partition in
                guard let end = state.highWatermarks[partition] else { return false }
                let position = state.positions[partition] ?? state.tracker.committed(partition) ?? 0
                return position >= end && (state.tracker.committable(partition).map { $0 == state.tracker.committed(partition) } ?? true)
            }
        }
    }

    /// Records consumed but not done yet.
    package var pendingRecords: Int { state.withLockedValue { $0.tracker.totalPending } }

    /// When the oldest open batch becomes due.
    package var nextFlushDeadline: ContinuousClock.Instant? { state.withLockedValue { $0.batcher.nextDeadline } }

    private func pending(_ partitions: [TopicPartition]) -> Int {
        state.withLockedValue { state in partitions.reduce(0) { $0 + state.tracker.pendingCount($1) } }
    }

    private func enqueue(_ batches: [PushBatch], in state: inout State) {
        for batch in batches { state.queues[batch.tenant, default: []].append(batch) }
    }
}
