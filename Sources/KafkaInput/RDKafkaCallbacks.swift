import BridgeCore
import CRdKafka
import Logging

// librdkafka's C callbacks. Each receives the `KafkaConsumerLoop` as its opaque pointer
// (set with rd_kafka_conf_set_opaque), unretained: the loop outlives the handle because it
// destroys the handle itself before its thread ends.

/// Rebalance callback: runs on the poll thread inside `rd_kafka_consumer_poll`. It must assign
/// or revoke synchronously before returning, as librdkafka requires.
func rebalanceCallback(
    _ handle: OpaquePointer?, _ error: rd_kafka_resp_err_t,
    _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, _ opaque: UnsafeMutableRawPointer?
) {
    guard let handle, let partitions, let opaque else { return }
    let loop = Unmanaged<KafkaConsumerLoop>.fromOpaque(opaque).takeUnretainedValue()
    let cooperative = String(cString: rd_kafka_rebalance_protocol(handle)) == "COOPERATIVE"
    let members = RDKafkaTopicPartitionList.partitions(of: partitions).map(\.partition)
    switch error {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        loop.willAssign(members)
        let result: OpaquePointer? =
            cooperative ? rd_kafka_incremental_assign(handle, partitions) : nil
        if !cooperative { _ = rd_kafka_assign(handle, partitions) }
        if let result {
            loop.logger.error(
                "incremental assign failed", metadata: ["error.message": "\(String(cString: rd_kafka_error_string(result)))"])
            rd_kafka_error_destroy(result)
        }
        loop.didAssign(members)
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        loop.revoke(members, lost: rd_kafka_assignment_lost(handle) != 0)
        if cooperative {
            if let result = rd_kafka_incremental_unassign(handle, partitions) { rd_kafka_error_destroy(result) }
        } else {
            _ = rd_kafka_assign(handle, nil)
        }
    default:
        loop.logger.error("rebalance error", metadata: ["error.message": "\(String(cString: rd_kafka_err2str(error)))"])
        loop.revoke(loop.currentAssignment, lost: true)
        if cooperative {
            if let result = rd_kafka_incremental_unassign(handle, partitions) { rd_kafka_error_destroy(result) }
        } else {
            _ = rd_kafka_assign(handle, nil)
        }
    }
}

/// Log callback: librdkafka's syslog levels mapped onto swift-log levels. Called from
/// librdkafka's internal threads; swift-log handlers are thread-safe.
func logCallback(
    _ handle: OpaquePointer?, _ level: Int32, _ facility: UnsafePointer<CChar>?, _ message: UnsafePointer<CChar>?
) {
    guard let handle, let opaque = rd_kafka_opaque(handle), let message else { return }
    let loop = Unmanaged<KafkaConsumerLoop>.fromOpaque(opaque).takeUnretainedValue()
    let logLevel: Logger.Level =
        switch level {
        case ...2: .critical
        case 3: .error
        case 4: .warning
        case 5: .notice
        case 6: .info
        default: .debug
        }
    loop.logger.log(
        level: logLevel, "librdkafka",
        metadata: [
            "kafka.facility": "\(facility.map { String(cString: $0) } ?? "")",
            "kafka.message": "\(String(cString: message))",
        ])
}

/// Error callback: broker/transport errors (most are retried by librdkafka itself) and fatal errors.
func errorCallback(_ handle: OpaquePointer?, _ error: Int32, _ reason: UnsafePointer<CChar>?, _ opaque: UnsafeMutableRawPointer?) {
    guard let opaque else { return }
    let loop = Unmanaged<KafkaConsumerLoop>.fromOpaque(opaque).takeUnretainedValue()
    let code = rd_kafka_resp_err_t(rawValue: error)
    let text = reason.map { String(cString: $0) } ?? String(cString: rd_kafka_err2str(code))
    if code == RD_KAFKA_RESP_ERR__FATAL {
        loop.logger.critical("fatal Kafka client error", metadata: ["error.message": "\(text)"])
    } else {
        loop.logger.warning(
            "Kafka client error", metadata: ["error.message": "\(text)", "error.code": "\(error)"])
    }
}
