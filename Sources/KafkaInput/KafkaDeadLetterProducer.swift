import BridgeCore
import CRdKafka
import CRdKafkaShims
import Foundation
import Logging
import NIOConcurrencyHelpers

/// The librdkafka producer that writes undeliverable records to the dead-letter topic.
///
/// Idempotent with `acks=all`: a delivery report without error means the record is durably in
/// the dead-letter topic, and only then may the source record count as done.
///
/// - Important: `@unchecked Sendable`: the handle is used from any thread for `produce` (which
///   librdkafka allows) and by its own poll thread for delivery reports; it is destroyed by
///   ``close(timeout:)`` after the poll thread ended.
package final class KafkaDeadLetterProducer: @unchecked Sendable {
    private let handle: OpaquePointer
    private let logger: Logger
    private let running = NIOLockedValueBox(true)
    private let pollThreadDone = DispatchSemaphore(value: 0)
    private let closed = NIOLockedValueBox(false)

    /// Properties the producer gets whatever the configuration says.
    package static let enforcedProperties: [String: String] = [
        "acks": "all",
        "enable.idempotence": "true",
    ]

    /// Creates the producer.
    ///
    /// - Parameter properties: librdkafka properties (brokers, security); consumer-only keys
    ///   are dropped (see ``producerProperties(from:)``).
    /// - Throws: ``KafkaInputError`` naming a refused property.
    package init(properties: [String: String], logger: Logger) throws(KafkaInputError) {
        self.logger = logger
        let conf = try RDKafkaPropertyValidator.makeConfiguration(
            Self.producerProperties(from: properties).merging(Self.enforcedProperties) { $1 })
        rd_kafka_conf_set_dr_msg_cb(conf, deliveryReportCallback)
        var errorText = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errorText, errorText.count) else {
            rd_kafka_conf_destroy(conf)
            let detail = errorText.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw KafkaInputError(code: -1, message: "cannot create the dead-letter producer: \(detail)")
        }
        self.handle = handle
        // The thread holds the producer until close() stops it: close() must be called.
        let thread = Thread { [self] in
            while running.withLockedValue({ $0 }) { rd_kafka_poll(self.handle, 100) }
            pollThreadDone.signal()
        }
        thread.name = "kafka-dlq-poll"
        thread.start()
    }

    /// Keys that only mean something to a consumer; librdkafka would warn about each on a producer.
    private static let consumerOnlyPrefixes = [
        "group.", "session.timeout.ms", "heartbeat.interval.ms", "auto.offset.reset", "enable.auto.",
        "partition.assignment.strategy", "max.poll.interval.ms", "fetch.", "queued.", "enable.partition.eof",
        "isolation.level", "check.crcs", "auto.commit.interval.ms", "consume.callback.max.messages",
        "coordinator.query.interval.ms", "client.id",
    ]

    /// The user's connection and security properties without consumer-only keys, and a client id
    /// of its own.
    package static func producerProperties(from properties: [String: String]) -> [String: String] {
        var result = properties.filter { key, _ in !consumerOnlyPrefixes.contains { key.hasPrefix($0) } }
        result["client.id"] = "kafka-loki-bridge-dlq"
        if result["linger.ms"] == nil { result["linger.ms"] = "20" }
        return result
    }

    /// Produces one record; `completion` runs once, on librdkafka's poll thread, with `nil`
    /// when the broker acknowledged it (all in-sync replicas) or the error.
    package func produce(
        topic: String, key: [UInt8]?, value: [UInt8]?, headers: [RecordHeader],
        completion: @escaping @Sendable (KafkaInputError?) -> Void
    ) {
        let box = Unmanaged.passRetained(DeliveryCompletion(completion)).toOpaque()
        let list = rd_kafka_headers_new(headers.count)!
        for header in headers {
            if let value = header.value {
                value.withUnsafeBytes { _ = rd_kafka_header_add(list, header.key, -1, $0.baseAddress, $0.count) }
            } else {
                _ = rd_kafka_header_add(list, header.key, -1, nil, 0)
            }
        }
        let error = (key ?? []).withUnsafeBytes { keyBytes in
            (value ?? []).withUnsafeBytes { valueBytes in
                CRdKafka_produce(
                    handle, topic, key == nil ? nil : keyBytes.baseAddress, keyBytes.count,
                    value == nil ? nil : valueBytes.baseAddress, valueBytes.count, list, box)
            }
        }
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            rd_kafka_headers_destroy(list)  // not handed over on failure
            Unmanaged<DeliveryCompletion>.fromOpaque(box).release()
            completion(KafkaInputError(error, context: "produce to dead-letter topic \(topic)"))
            return
        }
    }

    /// Waits up to `timeout` for outstanding deliveries, then stops the poll thread and destroys
    /// the handle. Records whose delivery did not complete get no report: they are not done.
    ///
    /// - Important: must be called once the producer is no longer needed; its poll thread keeps
    ///   it alive until then.
    package func close(timeout: Duration) {
        guard closed.withLockedValue({ closed in defer { closed = true }; return !closed }) else { return }
        let flushError = rd_kafka_flush(handle, Int32(min(timeout.seconds * 1000, 600_000)))
        if flushError != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.warning(
                "dead-letter producer closed with deliveries outstanding; their records stay uncommitted",
                metadata: ["kafka.outstanding": "\(rd_kafka_outq_len(handle))"])
        }
        running.withLockedValue { $0 = false }
        pollThreadDone.wait()
        rd_kafka_destroy(handle)
    }
}

/// The per-message opaque: the completion to call from the delivery report.
private final class DeliveryCompletion {
    let body: @Sendable (KafkaInputError?) -> Void
    init(_ body: @escaping @Sendable (KafkaInputError?) -> Void) { self.body = body }
}

/// Delivery report callback (librdkafka's poll thread): one call per produced message.
private func deliveryReportCallback(
    _ handle: OpaquePointer?, _ message: UnsafePointer<rd_kafka_message_t>?, _ opaque: UnsafeMutableRawPointer?
) {
    guard let message, let box = message.pointee._private else { return }
    let completion = Unmanaged<DeliveryCompletion>.fromOpaque(box).takeRetainedValue()
    let error = message.pointee.err
    completion.body(
        error == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaInputError(error, context: "dead-letter delivery", isRetriableOverride: true))
}
