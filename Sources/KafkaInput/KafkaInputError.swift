import CRdKafka

/// A failure reported by librdkafka, mirrored so callers never import the C module.
package struct KafkaInputError: Error, Sendable, CustomStringConvertible {
    /// librdkafka's `rd_kafka_resp_err_t` value (negative: client-internal, positive: broker).
    package var code: Int32
    /// librdkafka's explanation plus context.
    package var message: String
    /// Whether retrying the operation can succeed.
    package var isRetriable: Bool
    /// Source location that raised the error.
    package var location: String

    /// Creates an error.
    package init(code: Int32, message: String, isRetriable: Bool = false, fileID: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.isRetriable = isRetriable
        self.location = "\(fileID):\(line)"
    }

    init(
        _ error: rd_kafka_resp_err_t, context: String, isRetriableOverride: Bool? = nil, fileID: String = #fileID,
        line: Int = #line
    ) {
        let text = String(cString: rd_kafka_err2str(error))
        self.init(
            code: error.rawValue, message: "\(context): \(text)",
            isRetriable: isRetriableOverride ?? Self.retriable.contains(error), fileID: fileID, line: line)
    }

    /// Errors after which the same call may succeed (coordinator moves, timeouts, rebalances).
    private static let retriable: Set<rd_kafka_resp_err_t> = [
        RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
        RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
        RD_KAFKA_RESP_ERR__WAIT_COORD, RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,
    ]

    package var description: String { message }
}
