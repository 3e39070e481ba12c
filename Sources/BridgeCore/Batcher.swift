/// A batch of one tenant's streams on its way to Loki, with the records it completes.
package struct PushBatch: Sendable {
    /// Process-unique, increasing batch number (log correlation).
    package var id: UInt64
    /// The tenant (`X-Scope-OrgID`), `nil` for none.
    package var tenant: String?
    /// Content in arrival order, one segment per record (piece).
    package var segments: [PushSegment] = []
    /// The records whose pieces this batch completes when Loki accepts it.
    package var tickets: [RecordTicket] = []
    /// The source records, parallel to `tickets`, kept only when a dead-letter topic may need
    /// them (a batch Loki rejects for good goes there record by record).
    package var sources: [KafkaRecord] = []
    /// Approximate uncompressed protobuf size.
    package var encodedBytes = 0
    /// Number of entries.
    package var entryCount = 0
    /// Sum of line lengths.
    package var lineBytes = 0
    /// Bytes of the source records, released from the memory budget when the batch is done.
    package var sourceBytes = 0
    /// When the first record entered the batch.
    package var createdAt: ContinuousClock.Instant

    /// Appends `other` (a later batch of the same tenant) to this one, keeping content order.
    ///
    /// Used when batches queue up behind a slow push: sending them one by one would make
    /// throughput fall to one batch-wait's worth per Loki round trip.
    package mutating func append(_ other: PushBatch) {
        precondition(other.tenant == tenant, "only batches of one tenant merge")
        segments.append(contentsOf: other.segments)
        tickets.append(contentsOf: other.tickets)
        sources.append(contentsOf: other.sources)
        encodedBytes += other.encodedBytes
        entryCount += other.entryCount
        lineBytes += other.lineBytes
        sourceBytes += other.sourceBytes
        createdAt = min(createdAt, other.createdAt)
    }

    /// Offset ranges per partition covered by the batch, e.g. `logging-events/3@120-181`, for logs.
    package var offsetRanges: String {
        var ranges: [TopicPartition: (Int64, Int64)] = [:]
        for ticket in tickets {
            let current = ranges[ticket.topicPartition] ?? (ticket.offset, ticket.offset)
            ranges[ticket.topicPartition] = (min(current.0, ticket.offset), max(current.1, ticket.offset))
        }
        return ranges.sorted { $0.key.description < $1.key.description }
            .map { "\($0.key)@\($0.value.0)-\($0.value.1)" }.joined(separator: ",")
    }
}

/// Groups decoded records into per-tenant batches bounded by size and age.
///
/// Defaults mirror Loki's own clients (Promtail/Alloy `batch_wait` 1 s, `batch_size` 1 MiB).
/// A record is never split: a record larger than `maxBytes` travels alone.
///
/// One rule goes beyond those clients: when the consumer catches up (``caughtUp()``), the open
/// batch of a tenant that filled a batch since the last catch-up is the tail of a backlog and is
/// sealed at once, so lag reaches zero without waiting out `maxWait`. A tenant that never fills
/// a batch (a trickle) keeps `maxWait` batching: sealing it on every catch-up would push each
/// record alone, since a consumer following a slow topic is caught up after every record. So a
/// catch-up adds at most one push per full batch.
package struct Batcher: Sendable {
    /// Flush a batch once its encoded size reaches this many bytes.
    package var maxBytes: Int
    /// Flush a batch once its oldest record waited this long.
    package var maxWait: Duration

    private var open: [String?: PushBatch] = [:]
    private var nextID: UInt64 = 1
    /// Tenants that sealed a full batch since the last ``caughtUp()``.
    private var filledSinceCaughtUp: Set<String?> = []

    /// Creates a batcher.
    package init(maxBytes: Int, maxWait: Duration) {
        self.maxBytes = maxBytes
        self.maxWait = maxWait
    }

    /// True when no batch is open.
    package var isEmpty: Bool { open.isEmpty }

    /// Adds a decoded record.
    ///
    /// - Returns: batches that became full and must be pushed, in order.
    ///
    /// - Parameter source: the Kafka record to keep with the batch (for the dead-letter topic).
    package mutating func add(
        _ record: DecodedRecord, ticket: RecordTicket, sourceBytes: Int, now: ContinuousClock.Instant,
        source: KafkaRecord? = nil
    ) -> [PushBatch] {
        var ready: [PushBatch] = []
        let tenant = record.tenant
        if let batch = open[tenant], batch.encodedBytes > 0,
            batch.encodedBytes + record.encodedBytes > maxBytes
        {
            ready.append(sealFull(tenant))
        }
        var batch = open.removeValue(forKey: tenant) ?? newBatch(tenant: tenant, now: now)
        // Each record stays its own segment: the poll thread does not copy it again (the body
        // builder joins uncompressed runs on a push thread).
        batch.segments.append(record.compressed.map(PushSegment.snappy) ?? PushSegment(record.content))
        batch.tickets.append(ticket)
        if let source { batch.sources.append(source) }
        batch.encodedBytes += record.encodedBytes
        batch.entryCount += record.entryCount
        batch.lineBytes += record.lineBytes
        batch.sourceBytes += sourceBytes
        open[tenant] = batch
        if batch.encodedBytes >= maxBytes { ready.append(sealFull(tenant)) }
        return ready
    }

    /// The consumer has nothing more to read for now: seals the open batches of tenants that
    /// filled a batch since the last call (the tail of a backlog), oldest first.
    package mutating func caughtUp() -> [PushBatch] {
        defer { filledSinceCaughtUp.removeAll(keepingCapacity: true) }
        guard !filledSinceCaughtUp.isEmpty else { return [] }
        return open.filter { filledSinceCaughtUp.contains($0.key) }.sorted { $0.value.id < $1.value.id }
            .map { seal($0.key) }
    }

    /// Intake stopped over the memory budget: seals every open batch, oldest first. Nothing
    /// will come to fill them until pushes free memory, and only pushes free it. Their tenants
    /// count as having filled a batch: a budget full of their lines is a backlog, whose tail
    /// the next ``caughtUp()`` seals at once.
    package mutating func intakeStopped() -> [PushBatch] {
        open.sorted { $0.value.id < $1.value.id }.map { sealFull($0.key) }
    }

    /// Batches whose oldest record waited at least `maxWait`.
    package mutating func due(now: ContinuousClock.Instant) -> [PushBatch] {
        let tenants = open.filter { now - $0.value.createdAt >= maxWait }.sorted { $0.value.id < $1.value.id }
        return tenants.map { seal($0.key) }
    }

    /// Every open batch, regardless of age (shutdown, revoke).
    package mutating func drain() -> [PushBatch] {
        open.sorted { $0.value.id < $1.value.id }.map { seal($0.key) }
    }

    /// When the oldest open batch becomes due, if any.
    package var nextDeadline: ContinuousClock.Instant? {
        open.values.map(\.createdAt).min().map { $0 + maxWait }
    }

    private mutating func newBatch(tenant: String?, now: ContinuousClock.Instant) -> PushBatch {
        defer { nextID += 1 }
        return PushBatch(id: nextID, tenant: tenant, createdAt: now)
    }

    private mutating func seal(_ tenant: String?) -> PushBatch {
        open.removeValue(forKey: tenant)!
    }

    private mutating func sealFull(_ tenant: String?) -> PushBatch {
        filledSinceCaughtUp.insert(tenant)
        return seal(tenant)
    }
}
