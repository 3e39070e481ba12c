import BridgeCodecs
import BridgeCore
import CoreMetrics
import Logging
import LokiOutput
import NIOPosix

/// Delivers one batch to Loki: encodes it, pushes it on the blocking-I/O thread pool, and
/// retries per the ``RetryPolicy`` until Loki accepts it, rejects it for good, or the task is
/// cancelled (shutdown deadline).
package struct LokiPusher: Sendable {
    /// How a delivery ended.
    package enum Outcome: Sendable, Equatable {
        /// Loki answered 2xx.
        case accepted
        /// Loki answered a permanent 4xx (or retries ran out): the records go to the
        /// dead-letter topic (or are done at once without one).
        case rejected(status: String, message: String)
        /// Shutdown interrupted the retries: the records are not done and will be redelivered.
        case interrupted
        /// No record of the batch is waiting for it any more (its partitions moved to another
        /// replica, which redelivers them): retrying stopped.
        case abandoned
    }

    let client: LokiPushClient
    let circuit: LokiCircuit
    let threadPool: NIOThreadPool
    let policy: RetryPolicy
    let metrics: BridgeMetrics
    let logger: Logger

    /// Pushes `batch` until it is accepted, permanently rejected, or the task is cancelled.
    ///
    /// - Parameter stillNeeded: asked before each retry; `false` abandons the batch.
    package func deliver(_ batch: PushBatch, stillNeeded: @Sendable () -> Bool = { true }) async -> Outcome {
        let body = PushBodyBuilder.snappyBody(for: batch, compress: Snappy.compress)
        var generator = SystemRandomNumberGenerator()
        var attempt = 0
        while true {
            attempt += 1
            // While Loki's circuit is open this waits (no hammering); half-open lets one probe through.
            let ticket: LokiCircuit.Ticket
            do {
                ticket = try await circuit.acquire()
            } catch {
                return .interrupted
            }
            let started = ContinuousClock.now
            let result: Result<LokiResponse, LokiPushError>
            do {
                result = try await threadPool.runIfActive { [client] in
                    Result { () throws(LokiPushError) in try client.push(body: body, tenant: batch.tenant) }
                }
            } catch {
                circuit.record(.cancelled, ticket: ticket)
                return .interrupted  // the pool is shutting down
            }
            metrics.pushDuration.recordSeconds((ContinuousClock.now - started).seconds)
            let status: String
            let retryAfter: Duration?
            let message: String
            switch result {
            case .success(let response):
                status = "\(response.status)"
                retryAfter = response.retryAfter
                message = response.body
            case .failure(let error):
                status = error.category
                retryAfter = nil
                message = error.message
            }
            metrics.push(statusCode: status)
            let httpStatus = try? result.get().status
            let disposition = PushDisposition.classify(status: httpStatus)
            circuit.record(CircuitBreaker.Outcome(disposition), ticket: ticket)
            switch disposition {
            case .accepted:
                metrics.entriesPushed(outcome: "accepted", count: batch.entryCount)
                logger.debug("batch pushed", metadata: metadata(batch, status: status, attempt: attempt))
                return .accepted
            case .permanent:
                return reject(batch, status: status, message: message, attempt: attempt)
            case .retry:
                guard stillNeeded() else {
                    logger.info("batch abandoned: its partitions moved to another consumer", metadata: metadata(batch, status: status, attempt: attempt))
                    return .abandoned
                }
                guard policy.shouldRetry(afterAttempts: attempt) else {
                    return reject(batch, status: status, message: "retries exhausted: \(message)", attempt: attempt)
                }
                let delay = policy.delay(attempt: attempt, retryAfter: retryAfter, using: &generator)
                metrics.pushRetry()
                var details = metadata(batch, status: status, attempt: attempt)
                details["error.message"] = "\(message)"
                details["retry.delay_ms"] = "\(Int(delay.seconds * 1000))"
                if let httpStatus, PushDisposition.isConfigurationProblem(httpStatus) {
                    // Every batch will get this until someone fixes the setup: say so loudly.
                    details["hint"] = "\(Self.hint(for: httpStatus))"
                    logger.error("Loki refused the push: configuration problem, retrying until fixed", metadata: details)
                } else {
                    logger.warning("push failed, will retry", metadata: details)
                }
                do {
                    try await Task.sleep(for: delay)
                } catch {
                    return .interrupted
                }
            }
        }
    }

    private func reject(_ batch: PushBatch, status: String, message: String, attempt: Int) -> Outcome {
        metrics.entriesPushed(outcome: "rejected", count: batch.entryCount)
        var details = metadata(batch, status: status, attempt: attempt)
        details["error.message"] = "\(message)"
        // These entries are not in Loki: say so loudly (the pipeline dead-letters the records).
        logger.error("Loki rejected the batch permanently", metadata: details)
        return .rejected(status: status, message: message)
    }

    private static func hint(for status: Int) -> String {
        switch status {
        case 401, 403: "check the tenant (X-Scope-OrgID / LOKI_TENANT_ID) and LOKI_USERNAME/LOKI_PASSWORD/LOKI_BEARER_TOKEN"
        case 404, 405, 421: "check LOKI_URL: it must be the full push URL, e.g. http://loki-write:3100/loki/api/v1/push"
        case 413: "a proxy in front of Loki limits the body size: raise it or lower BATCH_MAX_BYTES"
        default: "check the proxy in front of Loki"
        }
    }

    private func metadata(_ batch: PushBatch, status: String, attempt: Int) -> Logger.Metadata {
        [
            "batch.id": "\(batch.id)", "loki.tenant": "\(batch.tenant ?? "")", "loki.status": "\(status)",
            "batch.entries": "\(batch.entryCount)", "batch.bytes": "\(batch.encodedBytes)",
            "kafka.offsets": "\(batch.offsetRanges)", "push.attempt": "\(attempt)",
        ]
    }
}

extension LokiPusher.Outcome {
    /// What the outcome means for the batch's records.
    var batchResult: Pipeline.BatchResult {
        switch self {
        case .accepted: .delivered
        case .rejected(let status, let message): .rejected(status: Int(status), message: message)
        case .interrupted: .notDelivered
        case .abandoned: .abandoned
        }
    }
}
