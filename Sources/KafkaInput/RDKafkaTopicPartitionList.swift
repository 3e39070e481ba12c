import BridgeCore
import CRdKafka

/// Owns an `rd_kafka_topic_partition_list_t`, converting to and from Swift values.
final class RDKafkaTopicPartitionList {
    let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    /// A list of partitions with offsets (`offset` of `nil` leaves librdkafka's default).
    init(_ entries: [(TopicPartition, Int64?)]) {
        pointer = rd_kafka_topic_partition_list_new(Int32(max(entries.count, 1)))
        for (partition, offset) in entries {
            let element = rd_kafka_topic_partition_list_add(pointer, partition.topic, partition.partition)!
            if let offset { element.pointee.offset = offset }
        }
    }

    deinit {
        rd_kafka_topic_partition_list_destroy(pointer)
    }

    /// Reads a list that librdkafka owns (for example the one passed to the rebalance callback).
    static func partitions(
        of list: UnsafePointer<rd_kafka_topic_partition_list_t>
    ) -> [(partition: TopicPartition, offset: Int64, error: rd_kafka_resp_err_t)] {
        (0..<Int(list.pointee.cnt)).map { index in
            let element = list.pointee.elems[index]
            return (
                TopicPartition(topic: String(cString: element.topic), partition: element.partition),
                element.offset, element.err
            )
        }
    }
}
