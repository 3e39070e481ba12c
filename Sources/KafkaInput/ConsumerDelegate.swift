import BridgeCore

/// What the consumer loop needs from the pipeline behind it.
///
/// - Important: every method is called on the consumer's poll thread, which librdkafka also
///   uses for the rebalance callback. Methods may block that thread (the revoke handler does,
///   by design, for a bounded time), but must not call back into the consumer.
package protocol ConsumerDelegate: AnyObject, Sendable {
    /// Records fetched by one poll round, in offset order within each partition.
    func consume(_ records: [KafkaRecord])

    /// A poll found no record to take: everything fetched so far was consumed (the member is at
    /// the log end of its partitions, or the brokers are slow to answer). Called at most once
    /// per poll timeout (100 ms) while nothing arrives, never while intake is paused.
    func caughtUp()

    /// Partitions added to this member's assignment, with the group's committed offset of
    /// each where one exists (the starting point, and the base of the lag metric).
    func partitionsAssigned(_ partitions: [TopicPartition], committedOffsets: [TopicPartition: Int64])

    /// Partitions about to leave this member's assignment (rebalance or close).
    ///
    /// Stop taking their records, wait a bounded time for their in-flight work, and return the
    /// offsets that may be committed for them. `lost` means another member may already own
    /// them: nothing will be committed, the offsets are returned only to be forgotten.
    func partitionsRevoked(_ partitions: [TopicPartition], lost: Bool) -> [TopicPartition: Int64]

    /// Offsets that may be committed now (every record below each is done).
    func commitCandidates() -> [TopicPartition: Int64]

    /// Result of a commit of `offsets`; `error == nil` on success.
    func committed(_ offsets: [TopicPartition: Int64], error: KafkaInputError?)

    /// Whether intake must stop (the in-flight memory budget is exhausted) or may go on;
    /// `currentlyPaused` is true while intake is held or paused.
    func intakeShouldPause(currentlyPaused: Bool) -> Bool

    /// The consumer moved its intake gate after ``intakeShouldPause(currentlyPaused:)`` (a hold
    /// began or ended, partitions were paused after a long hold or resumed). Not called for
    /// shutdown.
    func intakeChanged(_ action: IntakeGate.Action)

    /// librdkafka reported an error for a partition while fetching (corrupt batch, unsupported
    /// compression, …), by librdkafka's error name.
    func consumerError(code: String)

    /// Latest known log-end offsets (high watermarks) of assigned partitions, for lag.
    func observedHighWatermarks(_ watermarks: [TopicPartition: Int64])
}
