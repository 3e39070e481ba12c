import BridgeCore
import KafkaInput
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import UnixSignals

/// `dlq replay`: reads the dead-letter topics with a consumer group of its own and re-pushes the
/// selected dead letters to Loki, or (dry run, the default) only counts what it would take.
package enum DeadLetterReplay {
    /// What a dry run found.
    package struct Summary: Sendable, CustomStringConvertible {
        /// Dead letters read.
        package var read = 0
        /// Dead letters the filter selected, per `tenant / reason`.
        package var selected: [String: Int] = [:]

        package var description: String {
            var lines = ["read \(read) dead letters, \(selected.values.reduce(0, +)) selected"]
            for (key, count) in selected.sorted(by: { $0.key < $1.key }) { lines.append("  \(count)\t\(key)") }
            return lines.joined(separator: "\n")
        }
    }

    /// The configuration of the replay consumer, derived from the bridge's.
    ///
    /// - Parameters:
    ///   - topics: dead-letter topics to read; default: the configured topics through `dlq.topic`.
    ///   - group: the replay's consumer group; default `<group>-dlq-replay`.
    package static func configuration(
        from base: BridgeConfiguration, topics: [String]?, group: String?
    ) -> BridgeConfiguration {
        var configuration = base
        configuration.kafka.topics =
            topics ?? base.kafka.topics.map { DeadLetter.topic(template: base.deadLetter.topic, source: $0) }
        configuration.kafka.groupID = group ?? "\(base.kafka.groupID)-dlq-replay"
        configuration.kafka.groupInstanceID = nil
        configuration.kafka.autoOffsetReset = "earliest"
        // A dead letter that fails again stays where it is; it is not dead-lettered twice.
        configuration.deadLetter.enabled = false
        return configuration
    }

    /// Pushes the selected dead letters to Loki, committing the replay group's offsets as Loki
    /// accepts them, and returns once the topics were read to their ends.
    package static func execute(
        configuration: BridgeConfiguration, filter: DeadLetterFilter, metrics: BridgeMetrics, logger: Logger
    ) async throws {
        let service = BridgeService(
            configuration: configuration, metrics: metrics, status: BridgeStatus(), logger: logger, replay: filter)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    /// Reads the topics to their ends without pushing or committing, and counts the selection.
    ///
    /// - Returns: the summary, and whether the ends were reached within `timeout` (a topic
    ///   that does not exist is never "read to its end").
    package static func dryRun(
        configuration: BridgeConfiguration, filter: DeadLetterFilter, timeout: Duration, logger: Logger
    ) async throws -> (Summary, complete: Bool) {
        let inspector = Inspector(filter: filter)
        let consumer = try KafkaConsumerLoop(
            configuration: KafkaConsumerConfiguration(
                topics: configuration.kafka.topics, properties: configuration.kafkaProperties,
                commitInterval: .milliseconds(500)),
            delegate: inspector, logger: logger)
        try consumer.start()
        let deadline = ContinuousClock.now + timeout
        while !inspector.isCaughtUp, ContinuousClock.now < deadline, !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(200))
        }
        let complete = inspector.isCaughtUp
        _ = await consumer.close()
        return (inspector.summary, complete)
    }

    /// Counts dead letters; never commits (a dry run leaves the replay group where it was).
    private final class Inspector: ConsumerDelegate, Sendable {
        private struct State {
            var summary = Summary()
            var assigned: Set<TopicPartition> = []
            var positions: [TopicPartition: Int64] = [:]
            var ends: [TopicPartition: Int64] = [:]
        }

        private let filter: DeadLetterFilter
        private let state = NIOLockedValueBox(State())

        init(filter: DeadLetterFilter) { self.filter = filter }

        var summary: Summary { state.withLockedValue { $0.summary } }

        var isCaughtUp: Bool {
            state.withLockedValue { state in
                !state.assigned.isEmpty
                    && state.assigned.allSatisfy { partition in
                        guard let end = state.ends[partition] else { return false }
                        return (state.positions[partition] ?? 0) >= end
                    }
            }
        }

        func consume(_ records: [KafkaRecord]) {
            state.withLockedValue { state in
                for record in records {
                    state.summary.read += 1
                    state.positions[record.topicPartition] = record.offset + 1
                    guard filter.matches(record) else { continue }
                    let key =
                        "tenant=\(record.header(DeadLetter.Header.tenant) ?? "-") reason=\(record.header(DeadLetter.Header.reason) ?? "-")"
                    state.summary.selected[key, default: 0] += 1
                }
            }
        }

        func partitionsAssigned(_ partitions: [TopicPartition], committedOffsets: [TopicPartition: Int64]) {
            state.withLockedValue { state in
                state.assigned.formUnion(partitions)
                for (partition, offset) in committedOffsets where state.positions[partition] == nil {
                    state.positions[partition] = offset
                }
            }
        }

        func partitionsRevoked(_ partitions: [TopicPartition], lost: Bool) -> [TopicPartition: Int64] {
            state.withLockedValue { $0.assigned.subtract(partitions) }
            return [:]
        }

        func caughtUp() {}  // the dry run decides "caught up" from positions and log ends
        func commitCandidates() -> [TopicPartition: Int64] { [:] }
        func committed(_ offsets: [TopicPartition: Int64], error: KafkaInputError?) {}
        func intakeShouldPause(currentlyPaused: Bool) -> Bool { false }
        func intakeChanged(_ action: IntakeGate.Action) {}
        func consumerError(code: String) {}

        func observedHighWatermarks(_ watermarks: [TopicPartition: Int64]) {
            state.withLockedValue { $0.ends.merge(watermarks) { $1 } }
        }
    }
}
