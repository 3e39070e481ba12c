import BridgeCore
import CRdKafka
import Foundation
import KafkaInput

/// Ceiling (a): a librdkafka consumer with the bridge's own consumer properties that joins a
/// fresh group, reads the topics from the start and does nothing else with the records.
enum ConsumeOnlyCeiling {
    struct Result {
        var records = 0
        var valueBytes = 0
        /// From the first record to the last (the group join is `startupSeconds`).
        var seconds = 0.0
        var startupSeconds = 0.0
    }

    static func run(brokers: String, topics: [String], records expected: Int) throws -> Result {
        // The bridge's own consumer properties (defaults, version-dependent ones, enforced ones).
        var properties = KafkaConsumerConfiguration(topics: topics, properties: [:]).effectiveProperties
        properties["bootstrap.servers"] = brokers
        properties["group.id"] = "bench-consume-only-\(UUID().uuidString.prefix(8))"
        properties["client.id"] = "bench-consume-only"
        let conf = try RDKafkaPropertyValidator.makeConfiguration(properties)
        let started = ContinuousClock.now
        var error = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(RD_KAFKA_CONSUMER, conf, &error, error.count) else {
            rd_kafka_conf_destroy(conf)  // owned by the handle only once created
            throw BenchError("rd_kafka_new failed: \(error.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })")
        }
        defer { rd_kafka_destroy(handle) }
        rd_kafka_poll_set_consumer(handle)
        let list = rd_kafka_topic_partition_list_new(Int32(topics.count))
        for topic in topics { rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA) }
        rd_kafka_subscribe(handle, list)
        rd_kafka_topic_partition_list_destroy(list)
        var result = Result()
        var firstRecord: ContinuousClock.Instant?
        let deadline = ContinuousClock.now + .seconds(600)
        while result.records < expected, ContinuousClock.now < deadline {
            guard let message = rd_kafka_consumer_poll(handle, 100) else { continue }
            if message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                if firstRecord == nil { firstRecord = .now }
                result.records += 1
                result.valueBytes += message.pointee.len
            }
            rd_kafka_message_destroy(message)
        }
        result.seconds = (ContinuousClock.now - (firstRecord ?? started)).seconds
        result.startupSeconds = ((firstRecord ?? started) - started).seconds
        _ = rd_kafka_consumer_close(handle)
        guard result.records >= expected else {
            throw BenchError("consume-only read \(result.records) of \(expected) records in 600 s")
        }
        return result
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
