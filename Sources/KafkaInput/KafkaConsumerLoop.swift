import BridgeCore
import CRdKafka
import Foundation
import Logging
import NIOConcurrencyHelpers

/// The consumer-group member: a dedicated thread that polls librdkafka, hands records to the
/// ``ConsumerDelegate``, serves rebalances, holds (then pauses) intake over the memory budget
/// and commits done offsets.
///
/// Lifecycle: ``start()`` → running; ``stopIntake()`` → draining (records still arriving are
/// not taken, so nothing is registered beyond them and no commit can pass them; polling and
/// commits go on); ``close()`` → final commit, leave the group, thread ends.
///
/// - Important: librdkafka's poll blocks, so it runs on its own `Thread`, never on Swift's
///   cooperative pool. Every librdkafka call except `close()`'s signalling happens on it.
package final class KafkaConsumerLoop: @unchecked Sendable {
    private enum Phase {
        case created, running, draining, closing, finished
    }

    /// Logger for the consumer and librdkafka's messages (thread-safe).
    let logger: Logger
    private let configuration: KafkaConsumerConfiguration
    private let delegate: any ConsumerDelegate
    private let phase = NIOLockedValueBox(Phase.created)
    private let member = NIOLockedValueBox(false)
    private let finished = NIOLockedValueBox<(done: Bool, waiters: [CheckedContinuation<KafkaInputError?, Never>])>((false, []))
    private var consumer: RDKafkaConsumer!
    // The fields below are touched only by the poll thread.
    private var assignment: Set<TopicPartition> = []
    private var gate: IntakeGate
    private var failure: KafkaInputError?

    /// Creates the member; librdkafka validates the properties here, so bad configuration fails
    /// before anything starts.
    ///
    /// - Throws: ``KafkaInputError`` naming the librdkafka property that was refused.
    package init(
        configuration: KafkaConsumerConfiguration, delegate: any ConsumerDelegate, logger: Logger
    ) throws(KafkaInputError) {
        self.configuration = configuration
        self.delegate = delegate
        self.logger = logger
        gate = IntakeGate(holdLimit: configuration.effectiveHoldLimit)
        consumer = try RDKafkaConsumer(
            properties: configuration.effectiveProperties, context: Unmanaged.passUnretained(self).toOpaque())
    }

    deinit {
        // Destroy the handle while every field is still alive: librdkafka's threads call back
        // into this object (logs, errors) until rd_kafka_destroy returns.
        consumer = nil
    }

    /// Whether the consumer has joined its group (refreshed every commit interval).
    package var isGroupMember: Bool { member.withLockedValue { $0 } }

    /// Partitions currently assigned (poll thread only).
    var currentAssignment: [TopicPartition] { Array(assignment) }

    /// Subscribes and starts the poll thread.
    ///
    /// - Throws: ``KafkaInputError`` when the subscription is refused.
    package func start() throws(KafkaInputError) {
        try consumer.subscribe(configuration.topics)
        phase.withLockedValue { $0 = .running }
        let thread = Thread { [self] in pollLoop() }
        thread.name = "kafka-poll"
        thread.start()
        logger.info(
            "consumer started",
            metadata: [
                "kafka.topics": "\(configuration.topics.joined(separator: ","))",
                "kafka.group.id": "\(configuration.properties["group.id"] ?? "")",
            ])
    }

    /// Stops taking records; polling, rebalances and commits continue until ``close()``.
    package func stopIntake() {
        phase.withLockedValue { if $0 == .running { $0 = .draining } }
    }

    /// Commits what is done, leaves the group and waits for the poll thread to end.
    ///
    /// - Returns: the fatal error that ended the loop early, if any.
    package func close() async -> KafkaInputError? {
        phase.withLockedValue { if $0 == .running || $0 == .draining { $0 = .closing } }
        return await waitUntilFinished()
    }

    /// Waits until the poll thread ended for any reason (fatal error or ``close()``).
    package func waitUntilFinished() async -> KafkaInputError? {
        await withCheckedContinuation { continuation in
            let resume = finished.withLockedValue { state -> Bool in
                if state.done { return true }
                state.waiters.append(continuation)
                return false
            }
            if resume { continuation.resume(returning: failure) }
        }
    }

    // MARK: - Poll thread

    private func pollLoop() {
        let clock = ContinuousClock()
        var nextCommit = clock.now + configuration.commitInterval
        var records: [KafkaRecord] = []
        records.reserveCapacity(configuration.maxPollRecords)
        loop: while true {
            let current = phase.withLockedValue { $0 }
            if current == .closing { break }
            var timeout: Int32 = 100
            var taken = 0
            var dropped = 0
            // Records are handed over one by one and the memory budget is checked after each:
            // decoded records can be tens of times larger than they are in Kafka, so checking
            // only between rounds could overshoot the budget by far more than a round.
            while taken < configuration.maxPollRecords, gate.isOpen,
                let message = rd_kafka_consumer_poll(consumer.handle, timeout)
            {
                timeout = 0
                defer { rd_kafka_message_destroy(message) }
                if message.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                    handleMessageError(message)
                    if failure != nil { break loop }
                    continue
                }
                taken += 1
                guard current == .running else {
                    dropped += 1  // intake stopped: never registered, so never committed
                    continue
                }
                records.removeAll(keepingCapacity: true)
                records.append(KafkaRecord(copying: message))
                delegate.consume(records)
                updateIntake(draining: false, now: clock.now)
            }
            if dropped > 0 {
                logger.debug("records left for redelivery during shutdown", metadata: ["kafka.records": "\(dropped)"])
            }
            switch gate.state {
            case .open:
                if taken == 0, current == .running { delegate.caughtUp() }
            case .held:
                // Not polling is the point of a hold (librdkafka keeps its prefetch); look at
                // the budget again shortly. The hold limit bounds how long a rebalance waits.
                Thread.sleep(forTimeInterval: Self.holdCheckInterval)
            case .paused:
                // Keep serving the group (heartbeats, rebalances) without busy-looping.
                if let message = rd_kafka_consumer_poll(consumer.handle, 100) {
                    // A paused partition returns nothing; anything else is an error, or a
                    // message fetched before the pause took effect.
                    if message.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                        handleMessageError(message)
                    } else if current == .running {
                        records.removeAll(keepingCapacity: true)
                        records.append(KafkaRecord(copying: message))
                        delegate.consume(records)
                    }
                    rd_kafka_message_destroy(message)
                }
            }
            updateIntake(draining: current != .running, now: clock.now)
            if clock.now >= nextCommit {
                commitDone()
                reportWatermarks()
                let joined = consumer.isGroupMember
                member.withLockedValue { $0 = joined }
                nextCommit = clock.now + configuration.commitInterval
            }
        }
        if failure == nil { commitDone() }
        if let error = consumer.close() {
            logger.warning("consumer close reported an error", metadata: ["error.message": "\(error.message)"])
        }
        member.withLockedValue { $0 = false }
        logger.info("consumer closed, group left")
        consumer = nil  // destroys the handle on this thread
        phase.withLockedValue { $0 = .finished }
        let waiters = finished.withLockedValue { state -> [CheckedContinuation<KafkaInputError?, Never>] in
            state.done = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: failure) }
    }

    private func handleMessageError(_ message: UnsafeMutablePointer<rd_kafka_message_t>) {
        let error = message.pointee.err
        let text = String(cString: rd_kafka_err2str(error))
        if error == RD_KAFKA_RESP_ERR__FATAL {
            failure = consumer.fatalError() ?? KafkaInputError(error, context: "consumer")
            logger.critical("fatal consumer error, stopping", metadata: ["error.message": "\(failure!.message)"])
            return
        }
        var metadata: Logger.Metadata = ["error.message": "\(text)", "error.code": "\(error.rawValue)"]
        if let topic = message.pointee.rkt { metadata["kafka.topic"] = "\(String(cString: rd_kafka_topic_name(topic)))" }
        metadata["kafka.partition"] = "\(message.pointee.partition)"
        metadata["kafka.offset"] = "\(message.pointee.offset)"
        logger.warning("consumer error", metadata: metadata)
        delegate.consumerError(code: String(cString: rd_kafka_err2name(error)))
    }

    /// How often a hold looks at the budget again (500 cheap checks a second, for at most the
    /// hold limit).
    private static let holdCheckInterval = 0.002

    private func updateIntake(draining: Bool, now: ContinuousClock.Instant) {
        let stop = draining || delegate.intakeShouldPause(currentlyPaused: !gate.isOpen)
        let action = gate.update(stop: stop, draining: draining, now: now)
        switch action {
        case .none:
            return
        case .hold, .release:
            // Frequent while the pipeline runs at its limit: debug only; the counter shows them.
            logger.debug(action == .hold ? "intake held" : "intake released")
        case .pausePartitions, .pausePartitionsForShutdown, .resumePartitions:
            let pause = action != .resumePartitions
            consumer.setPaused(pause, assignment)
            let reason = action == .pausePartitionsForShutdown ? "shutdown" : "memory budget or open loki circuit"
            logger.info(
                pause ? "intake paused" : "intake resumed",
                metadata: [
                    "reason": "\(reason)", "kafka.partitions": "\(assignment.count)",
                    "hold.limit": "\(gate.holdLimit)",
                ])
        }
        if !draining { delegate.intakeChanged(action) }
    }

    private func commitDone() {
        let candidates = delegate.commitCandidates()
        guard !candidates.isEmpty else { return }
        let (succeeded, error) = consumer.commit(candidates)
        delegate.committed(succeeded, error: error)
        if let error {
            logger.warning(
                "offset commit failed, will retry", metadata: ["error.message": "\(error.message)"])
        } else {
            logger.debug("offsets committed", metadata: ["kafka.partitions": "\(succeeded.count)"])
        }
    }

    private var lastWatermarkQuery = ContinuousClock.now

    /// Reports log ends for the lag metric. Fetch responses keep the cached high watermark
    /// fresh, but paused partitions do not fetch (held ones stop once librdkafka's queue is
    /// full, for at most the hold limit): while paused, ask the brokers (ListOffsets,
    /// one short blocking call per partition, at most every 10 s) so lag keeps rising visibly
    /// during a Loki outage.
    private func reportWatermarks() {
        var watermarks: [TopicPartition: Int64] = [:]
        let query = gate.partitionsPaused && ContinuousClock.now - lastWatermarkQuery >= .seconds(10)
        if query { lastWatermarkQuery = ContinuousClock.now }
        var brokerAnswers = true
        for partition in assignment {
            if query, brokerAnswers {
                if let high = consumer.queryHighWatermark(partition, timeoutMs: 1000) {
                    watermarks[partition] = high
                    continue
                }
                brokerAnswers = false  // do not stall the poll thread on an unreachable broker
            }
            if let high = consumer.cachedHighWatermark(partition) { watermarks[partition] = high }
        }
        delegate.observedHighWatermarks(watermarks)
    }

    // MARK: - Rebalance (called by rebalanceCallback on the poll thread)

    func willAssign(_ partitions: [TopicPartition]) {
        delegate.partitionsAssigned(partitions, committedOffsets: consumer.committedOffsets(partitions))
    }

    func didAssign(_ partitions: [TopicPartition]) {
        assignment.formUnion(partitions)
        if gate.partitionsPaused { consumer.setPaused(true, partitions) }
        logger.info(
            "partitions assigned",
            metadata: ["kafka.partitions": "\(partitions.map(\.description).sorted().joined(separator: ","))"])
    }

    func revoke(_ partitions: [TopicPartition], lost: Bool) {
        let offsets = delegate.partitionsRevoked(partitions, lost: lost)
        if !lost, !offsets.isEmpty {
            let (succeeded, error) = consumer.commit(offsets)
            delegate.committed(succeeded, error: error)
            if let error {
                logger.warning("commit on revoke failed", metadata: ["error.message": "\(error.message)"])
            }
        }
        // librdkafka keeps the application's pause flag on a partition after it leaves the
        // assignment; a paused partition assigned back later would then never be fetched.
        if gate.partitionsPaused { consumer.setPaused(false, partitions) }
        assignment.subtract(partitions)
        logger.info(
            lost ? "partitions lost" : "partitions revoked",
            metadata: ["kafka.partitions": "\(partitions.map(\.description).sorted().joined(separator: ","))"])
    }
}

extension KafkaRecord {
    /// Copies a librdkafka message (valid only until `rd_kafka_message_destroy`) into Swift values.
    init(copying message: UnsafeMutablePointer<rd_kafka_message_t>) {
        let m = message.pointee
        let topic = String(cString: rd_kafka_topic_name(m.rkt))
        func bytes(_ pointer: UnsafeMutableRawPointer?, _ length: Int) -> [UInt8]? {
            guard let pointer else { return nil }
            return [UInt8](UnsafeRawBufferPointer(start: pointer, count: length))
        }
        var headers: [RecordHeader] = []
        var headerList: OpaquePointer?
        if rd_kafka_message_headers(message, &headerList) == RD_KAFKA_RESP_ERR_NO_ERROR, let headerList {
            var index = 0
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(headerList, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                headers.append(
                    RecordHeader(
                        key: name.map { String(cString: $0) } ?? "",
                        value: value.map { [UInt8](UnsafeRawBufferPointer(start: $0, count: size)) }))
                index += 1
            }
        }
        self.init(
            topicPartition: TopicPartition(topic: topic, partition: m.partition), offset: m.offset,
            key: bytes(m.key, m.key_len), value: bytes(m.payload, m.len), headers: headers)
    }
}
