/// Identifies one registered record for completion: partition, offset and the assignment epoch.
///
/// The epoch makes completions from a previous assignment of the same partition harmless:
/// after a revoke and re-assign, an old in-flight batch finishing must not mark the new
/// assignment's records done.
package struct RecordTicket: Sendable, Hashable {
    /// The record's partition.
    package var topicPartition: TopicPartition
    /// The record's offset.
    package var offset: Int64
    /// The assignment epoch the record was registered under.
    package var epoch: UInt64
}

/// Per-partition bookkeeping of which consumed records are done, and so which offset may be
/// committed.
///
/// The invariant it enforces: the commit position of a partition is the lowest registered
/// offset not yet done (or one past the last registered record when all are done). A record is
/// done when all of its pieces completed; completions may arrive in any order.
///
/// Value type without locks or I/O; the runtime holds it behind a mutex.
package struct OffsetTracker: Sendable {
    private struct PartitionState: Sendable {
        var epoch: UInt64
        /// Registered offsets in increasing order; entries before `head` are done.
        var offsets: [Int64] = []
        /// Pieces still outstanding per registered offset (parallel to `offsets`).
        var remaining: [Int32] = []
        var head = 0
        var lastRegistered: Int64?
        /// Next offset to commit: every registered record below it is done.
        var committable: Int64?
        /// Last offset successfully committed by this process.
        var committed: Int64?

        /// Registered records not done yet.
        var pendingCount = 0

        mutating func advanceHead() {
            while head < offsets.count, remaining[head] == 0 {
                // Never backwards: after a rewind, re-registered records below an earlier
                // committable were already done once.
                committable = max(committable ?? Int64.min, offsets[head] + 1)
                head += 1
            }
            // Drop the done prefix once it dominates, keeping appends amortised O(1).
            if head >= 1024, head * 2 >= offsets.count {
                offsets.removeFirst(head)
                remaining.removeFirst(head)
                head = 0
            }
        }

        /// Forgets entries at or above `offset`, keeping everything below it.
        mutating func rewind(to offset: Int64) {
            let cut = offsets.firstIndex { $0 >= offset } ?? offsets.count
            for index in max(cut, head)..<offsets.count where remaining[index] > 0 { pendingCount -= 1 }
            offsets.removeSubrange(cut...)
            remaining.removeSubrange(cut...)
            head = min(head, offsets.count)
            lastRegistered = offsets.last
        }

        func index(of offset: Int64) -> Int? {
            var low = head
            var high = offsets.count
            while low < high {
                let mid = (low + high) / 2
                if offsets[mid] < offset { low = mid + 1 } else { high = mid }
            }
            return low < offsets.count && offsets[low] == offset ? low : nil
        }
    }

    private var partitions: [TopicPartition: PartitionState] = [:]
    private var nextEpoch: UInt64 = 1

    /// Creates an empty tracker.
    package init() {}

    /// Partitions currently tracked (assigned).
    package var assigned: [TopicPartition] { Array(partitions.keys) }

    /// Starts tracking `partitions` under a fresh epoch. Already-tracked partitions keep their state.
    package mutating func assign(_ newPartitions: some Sequence<TopicPartition>) {
        for partition in newPartitions where partitions[partition] == nil {
            partitions[partition] = PartitionState(epoch: takeEpoch())
        }
    }

    /// Stops tracking `partition`; later completions of its tickets are ignored.
    package mutating func revoke(_ partition: TopicPartition) {
        partitions[partition] = nil
    }

    /// Registers a consumed record that must complete `pieces` times before it is done.
    ///
    /// - Returns: the ticket to complete, or `nil` when the partition is not assigned (the
    ///   record is then not tracked and must not be processed: it will be redelivered to the
    ///   partition's next owner from the committed offset).
    /// - Note: an offset at or below the last registered one means the consumer rewound (an
    ///   offset reset, a truncation after leader change). Entries at or above it are forgotten
    ///   (they come again); entries below it are kept, so a still-pending lower record keeps
    ///   holding the commit back. A ticket for the same offset completes the new entry too:
    ///   the same offset is the same record.
    package mutating func register(_ partition: TopicPartition, offset: Int64, pieces: Int = 1) -> RecordTicket? {
        guard var state = partitions[partition] else { return nil }
        if let last = state.lastRegistered, offset <= last {
            state.rewind(to: offset)
        }
        state.offsets.append(offset)
        state.remaining.append(Int32(clamping: max(0, pieces)))
        state.lastRegistered = offset
        if pieces > 0 { state.pendingCount += 1 } else { state.advanceHead() }
        partitions[partition] = state
        return RecordTicket(topicPartition: partition, offset: offset, epoch: state.epoch)
    }

    /// Completes one piece of the ticket's record.
    ///
    /// - Returns: `true` when the completion applied; `false` for a stale ticket (revoked or
    ///   rewound partition) or a record that was already done.
    @discardableResult
    package mutating func complete(_ ticket: RecordTicket) -> Bool {
        guard var state = partitions[ticket.topicPartition], state.epoch == ticket.epoch,
            let index = state.index(of: ticket.offset), state.remaining[index] > 0
        else { return false }
        partitions[ticket.topicPartition] = nil  // avoid a copy while mutating
        state.remaining[index] -= 1
        if state.remaining[index] == 0 {
            state.pendingCount -= 1
            if index == state.head { state.advanceHead() }
        }
        partitions[ticket.topicPartition] = state
        return true
    }

    /// Whether the ticket's record is tracked and not done yet.
    package func isPending(_ ticket: RecordTicket) -> Bool {
        guard let state = partitions[ticket.topicPartition], state.epoch == ticket.epoch,
            let index = state.index(of: ticket.offset)
        else { return false }
        return state.remaining[index] > 0
    }

    /// The offset that may be committed for `partition`, if any record was done.
    package func committable(_ partition: TopicPartition) -> Int64? {
        partitions[partition]?.committable
    }

    /// The last offset recorded as committed for `partition`.
    package func committed(_ partition: TopicPartition) -> Int64? {
        partitions[partition]?.committed
    }

    /// Offsets that moved past what was last committed, per partition.
    package func commitCandidates() -> [TopicPartition: Int64] {
        var result: [TopicPartition: Int64] = [:]
        for (partition, state) in partitions {
            if let next = state.committable, next != state.committed { result[partition] = next }
        }
        return result
    }

    /// Records that `offset` was committed for `partition`.
    package mutating func markCommitted(_ partition: TopicPartition, offset: Int64) {
        partitions[partition]?.committed = offset
    }

    /// Number of registered records of `partition` that are not done yet.
    package func pendingCount(_ partition: TopicPartition) -> Int {
        partitions[partition]?.pendingCount ?? 0
    }

    /// Number of records not done yet over all partitions.
    package var totalPending: Int { partitions.values.reduce(0) { $0 + $1.pendingCount } }

    private mutating func takeEpoch() -> UInt64 {
        defer { nextEpoch += 1 }
        return nextEpoch
    }
}
