import BridgeCore
import CRdKafka

/// Owns the librdkafka consumer handle and wraps the calls the poll loop makes.
///
/// - Important: `@unchecked Sendable` because it is created on one thread and then used only
///   by the consumer's poll thread (``KafkaConsumerLoop``); librdkafka itself is thread-safe
///   for these calls, and the handle is destroyed by that same thread at the end of the loop.
final class RDKafkaConsumer: @unchecked Sendable {
    let handle: OpaquePointer
    private(set) var closed = false

    /// Creates the consumer with `properties`, routing librdkafka's rebalance, log and error
    /// callbacks to `context`.
    init(properties: [String: String], context: UnsafeMutableRawPointer) throws(KafkaInputError) {
        let conf = try RDKafkaPropertyValidator.makeConfiguration(properties)
        var errorText = [CChar](repeating: 0, count: 512)
        rd_kafka_conf_set_opaque(conf, context)
        rd_kafka_conf_set_rebalance_cb(conf, rebalanceCallback)
        rd_kafka_conf_set_log_cb(conf, logCallback)
        rd_kafka_conf_set_error_cb(conf, errorCallback)
        // rd_kafka_new takes ownership of conf on success only.
        guard let handle = rd_kafka_new(RD_KAFKA_CONSUMER, conf, &errorText, errorText.count) else {
            rd_kafka_conf_destroy(conf)
            let detail = errorText.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw KafkaInputError(code: -1, message: "cannot create Kafka consumer: \(detail)")
        }
        self.handle = handle
        // Route the main queue (logs/errors/rebalance) to the consumer queue served by poll.
        rd_kafka_poll_set_consumer(handle)
    }

    deinit {
        if !closed { rd_kafka_consumer_close(handle) }
        rd_kafka_destroy(handle)
    }

    /// Subscribes to `topics`.
    func subscribe(_ topics: [String]) throws(KafkaInputError) {
        let list = RDKafkaTopicPartitionList(topics.map { (TopicPartition(topic: $0, partition: -1), nil) })
        let error = rd_kafka_subscribe(handle, list.pointer)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaInputError(error, context: "subscribe") }
    }

    /// Commits `offsets` synchronously.
    ///
    /// - Returns: the partitions whose commit succeeded, and the first error if any failed.
    func commit(_ offsets: [TopicPartition: Int64]) -> (succeeded: [TopicPartition: Int64], error: KafkaInputError?) {
        guard !offsets.isEmpty else { return ([:], nil) }
        let list = RDKafkaTopicPartitionList(offsets.map { ($0.key, $0.value) })
        let error = rd_kafka_commit(handle, list.pointer, 0)
        var succeeded: [TopicPartition: Int64] = [:]
        var firstError: KafkaInputError?
        for element in RDKafkaTopicPartitionList.partitions(of: list.pointer) {
            if element.error == RD_KAFKA_RESP_ERR_NO_ERROR, error == RD_KAFKA_RESP_ERR_NO_ERROR || error == RD_KAFKA_RESP_ERR__NO_OFFSET {
                succeeded[element.partition] = offsets[element.partition]
            } else if firstError == nil {
                let code = element.error != RD_KAFKA_RESP_ERR_NO_ERROR ? element.error : error
                firstError = KafkaInputError(code, context: "commit \(element.partition)")
            }
        }
        return (succeeded, firstError)
    }

    /// Pauses or resumes fetching of `partitions`.
    func setPaused(_ paused: Bool, _ partitions: some Collection<TopicPartition>) {
        guard !partitions.isEmpty else { return }
        let list = RDKafkaTopicPartitionList(partitions.map { ($0, nil) })
        _ = paused ? rd_kafka_pause_partitions(handle, list.pointer) : rd_kafka_resume_partitions(handle, list.pointer)
    }

    /// The group's committed offsets of `partitions` (a broker round trip, bounded by `timeoutMs`).
    /// Partitions without a committed offset are absent.
    func committedOffsets(_ partitions: [TopicPartition], timeoutMs: Int32 = 5000) -> [TopicPartition: Int64] {
        guard !partitions.isEmpty else { return [:] }
        let list = RDKafkaTopicPartitionList(partitions.map { ($0, nil) })
        guard rd_kafka_committed(handle, list.pointer, timeoutMs) == RD_KAFKA_RESP_ERR_NO_ERROR else { return [:] }
        var result: [TopicPartition: Int64] = [:]
        for element in RDKafkaTopicPartitionList.partitions(of: list.pointer)
        where element.error == RD_KAFKA_RESP_ERR_NO_ERROR && element.offset >= 0 {
            result[element.partition] = element.offset
        }
        return result
    }

    /// Whether this client is currently a member of its consumer group.
    var isGroupMember: Bool {
        guard let id = rd_kafka_memberid(handle) else { return false }
        defer { rd_kafka_mem_free(handle, id) }
        return id.pointee != 0
    }

    /// Cached high watermark (log end) of `partition` from the latest fetch, if known. Non-blocking.
    func cachedHighWatermark(_ partition: TopicPartition) -> Int64? {
        var low: Int64 = 0
        var high: Int64 = 0
        let error = rd_kafka_get_watermark_offsets(handle, partition.topic, partition.partition, &low, &high)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else { return nil }
        return high
    }

    /// The high watermark of `partition` asked from its leader (blocking up to `timeoutMs`).
    func queryHighWatermark(_ partition: TopicPartition, timeoutMs: Int32) -> Int64? {
        var low: Int64 = 0
        var high: Int64 = 0
        let error = rd_kafka_query_watermark_offsets(handle, partition.topic, partition.partition, &low, &high, timeoutMs)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else { return nil }
        return high
    }

    /// The fatal error that stopped the client, if any.
    func fatalError() -> KafkaInputError? {
        var text = [CChar](repeating: 0, count: 512)
        let code = rd_kafka_fatal_error(handle, &text, text.count)
        guard code != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        return KafkaInputError(code, context: text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
    }

    /// Leaves the group (running the final revoke through the rebalance callback).
    ///
    /// - Returns: the error librdkafka reported while closing, if any.
    func close() -> KafkaInputError? {
        guard !closed else { return nil }
        closed = true
        let error = rd_kafka_consumer_close(handle)
        return error == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaInputError(error, context: "consumer close")
    }
}

/// Checks librdkafka properties without creating a client, so `check-config` and start-up
/// reject unknown keys and bad values with librdkafka's own explanation.
package enum RDKafkaPropertyValidator {
    /// - Throws: ``KafkaInputError`` naming the first refused property.
    package static func validate(_ properties: [String: String]) throws(KafkaInputError) {
        rd_kafka_conf_destroy(try makeConfiguration(properties))
    }

    /// A librdkafka configuration object holding `properties`; the caller owns it.
    package static func makeConfiguration(_ properties: [String: String]) throws(KafkaInputError) -> OpaquePointer {
        let conf = rd_kafka_conf_new()!
        var errorText = [CChar](repeating: 0, count: 512)
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
            guard rd_kafka_conf_set(conf, key, value, &errorText, errorText.count) == RD_KAFKA_CONF_OK else {
                rd_kafka_conf_destroy(conf)
                let detail = errorText.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                throw KafkaInputError(code: -1, message: "librdkafka property '\(key)': \(detail)")
            }
        }
        return conf
    }

    /// Whether the librdkafka loaded at run time knows `property`.
    package static func isSupported(_ property: String) -> Bool {
        let conf = rd_kafka_conf_new()!
        defer { rd_kafka_conf_destroy(conf) }
        var size = 0
        return rd_kafka_conf_get(conf, property, nil, &size) == RD_KAFKA_CONF_OK
    }

    /// Version of the librdkafka library loaded at run time (not the headers compiled against).
    package static var libraryVersion: String { String(cString: rd_kafka_version_str()) }
}
