/// Whether the consumer takes records, and how it stops when the pipeline behind it is full.
///
/// Two ways to stop, chosen by how long the stop lasts:
/// - **Hold**: the poll thread stops taking messages but leaves the partitions alone.
///   librdkafka keeps what it prefetched and stops fetching once its local queue is full
///   (`queued.max.messages.kbytes`), so a short stop costs nothing when it ends.
/// - **Pause**: `rd_kafka_pause_partitions`. librdkafka drops its prefetched messages and
///   fetches them again on resume, but the poll thread goes back to polling, which serves
///   rebalances and keeps the member within `max.poll.interval.ms`.
///
/// A stop starts as a hold and becomes a pause once it has lasted ``holdLimit``: a rebalance
/// waits for the next poll, so a hold must stay short. Shutdown pauses at once. Measured on
/// the bench (docs/performance.md): a pause per budget-full moment cost 17 % of protobuf
/// throughput at a 128 MiB budget and 40–70 % at 64 MiB.
package struct IntakeGate: Sendable {
    package enum State: Sendable, Equatable {
        /// Records are taken.
        case open
        /// No record is taken; partitions are not paused. Since when.
        case held(since: ContinuousClock.Instant)
        /// Partitions are paused with librdkafka.
        case paused
    }

    /// What the consumer must do after ``update(stop:draining:now:)``.
    package enum Action: Sendable, Equatable {
        case none
        /// Stop taking records (nothing to tell librdkafka).
        case hold
        /// Take records again after a hold (nothing to tell librdkafka).
        case release
        /// Pause the assigned partitions: the hold lasted ``holdLimit``.
        case pausePartitions
        /// Pause the assigned partitions for shutdown, from any state.
        case pausePartitionsForShutdown
        /// Resume the assigned partitions.
        case resumePartitions
    }

    /// Longest hold before the partitions are paused.
    package let holdLimit: Duration
    package private(set) var state: State = .open

    package init(holdLimit: Duration) {
        self.holdLimit = holdLimit
    }

    /// Records may be taken.
    package var isOpen: Bool { state == .open }

    /// Partitions are paused with librdkafka (new ones must be paused too, revoked ones resumed).
    package var partitionsPaused: Bool { state == .paused }

    /// Moves the gate: `stop` is the pipeline's wish (budget full, circuit open), `draining`
    /// means shutdown (no record may be taken any more, ever).
    package mutating func update(stop: Bool, draining: Bool, now: ContinuousClock.Instant) -> Action {
        switch (state, stop || draining) {
        case (.paused, true), (.open, false):
            return .none
        case (_, true) where draining:
            state = .paused
            return .pausePartitionsForShutdown
        case (.open, true):
            state = .held(since: now)
            return .hold
        case (.held(let since), true):
            guard now - since >= holdLimit else { return .none }
            state = .paused
            return .pausePartitions
        case (.held, false):
            state = .open
            return .release
        case (.paused, false):
            state = .open
            return .resumePartitions
        }
    }
}
