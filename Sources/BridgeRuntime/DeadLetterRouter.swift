import BridgeCore
import KafkaInput
import Logging

/// Sends dead letters to the dead-letter topic and reports each one done only after the broker
/// acknowledged it; failed sends are retried with the push backoff, forever (the record stays
/// not done, so its offset is not committed).
package final class DeadLetterRouter: Sendable {
    private let producer: KafkaDeadLetterProducer
    private let topicTemplate: String
    private let policy: RetryPolicy
    private let metrics: BridgeMetrics
    private let logger: Logger

    /// Creates the router.
    package init(
        producer: KafkaDeadLetterProducer, topicTemplate: String, policy: RetryPolicy, metrics: BridgeMetrics,
        logger: Logger
    ) {
        self.producer = producer
        self.topicTemplate = topicTemplate
        self.policy = policy
        self.metrics = metrics
        self.logger = logger
    }

    /// Sends `letter`; `done` runs once the dead-letter topic holds it.
    package func send(_ letter: DeadLetter, done: @escaping @Sendable () -> Void) {
        attempt(letter, number: 1, done: done)
    }

    private func attempt(_ letter: DeadLetter, number: Int, done: @escaping @Sendable () -> Void) {
        let topic = DeadLetter.topic(template: topicTemplate, source: letter.record.topicPartition.topic)
        producer.produce(
            topic: topic, key: letter.record.key, value: letter.record.value, headers: letter.headers
        ) { [self] error in
            var metadata: Logger.Metadata = [
                "kafka.topic": "\(letter.record.topicPartition.topic)",
                "kafka.partition": "\(letter.record.topicPartition.partition)",
                "kafka.offset": "\(letter.record.offset)", "dlq.topic": "\(topic)", "dlq.reason": "\(letter.reason)",
                "loki.tenant": "\(letter.tenant ?? "")",
            ]
            guard let error else {
                metrics.deadLettered(reason: letter.reason)
                logger.warning("record written to the dead-letter topic", metadata: metadata)
                done()
                return
            }
            metrics.deadLetterError()
            var generator = SystemRandomNumberGenerator()
            let delay = policy.delay(attempt: number, using: &generator)
            metadata["error.message"] = "\(error.message)"
            metadata["retry.delay_ms"] = "\(Int(delay.seconds * 1000))"
            logger.error("dead-letter produce failed; the record stays uncommitted, retrying", metadata: metadata)
            Task {
                try? await Task.sleep(for: delay)
                self.attempt(letter, number: number + 1, done: done)
            }
        }
    }
}
