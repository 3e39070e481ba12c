import BridgeCodecs
import BridgeCore
import KafkaInput
import Logging
import LokiOutput
import NIOPosix
import ServiceLifecycle

/// The bridge itself: consumer → pipeline → pushers, as one `Service`.
///
/// On graceful shutdown it stops intake, flushes open batches, waits up to
/// `shutdown_timeout` for in-flight pushes, then commits what is done and leaves the group.
/// Pushes still retrying after the deadline are abandoned: their records are not done, so they
/// are not committed and the group redelivers them.
package struct BridgeService: Service {
    let configuration: BridgeConfiguration
    let metrics: BridgeMetrics
    let status: BridgeStatus
    /// `dlq replay --execute`: take only these records and stop once caught up.
    let replay: DeadLetterFilter?
    let logger: Logger

    /// Creates the service.
    ///
    /// - Parameter replay: for `dlq replay --execute`: the records to take; the service then
    ///   stops by itself once it has read its topics up to their ends and everything is done.
    package init(
        configuration: BridgeConfiguration, metrics: BridgeMetrics, status: BridgeStatus, logger: Logger,
        replay: DeadLetterFilter? = nil
    ) {
        self.replay = replay
        self.configuration = configuration
        self.metrics = metrics
        self.status = status
        self.logger = logger
    }

    package func run() async throws {
        let (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let decoder = RecordDecoder(
            options: .init(tenantFromKey: configuration.kafka.tenantFromKey, defaultTenant: configuration.loki.tenantID),
            decompressor: NativeDecompressor())
        let retryPolicy = configuration.retryPolicy
        let deadLetterProducer = try configuration.deadLetter.enabled
            ? KafkaDeadLetterProducer(properties: configuration.kafkaProperties, logger: logger) : nil
        // Closed last: dead letters sent before the consumer's final commit get their chance
        // to be acknowledged (the records of unacknowledged ones were not committed).
        defer { deadLetterProducer?.close(timeout: .seconds(5)) }
        let deadLetters = deadLetterProducer.map {
            DeadLetterRouter(
                producer: $0, topicTemplate: configuration.deadLetter.topic, policy: retryPolicy, metrics: metrics,
                logger: logger)
        }
        let circuit = LokiCircuit(configuration: configuration.circuitBreaker) { [metrics, logger] transition in
            metrics.lokiCircuit(state: transition.to.metricValue)
            if transition.to == .closed {
                logger.notice("loki circuit closed: pushes flow again", metadata: ["circuit.transition": "\(transition)"])
            } else {
                logger.warning("loki circuit changed", metadata: ["circuit.transition": "\(transition)"])
            }
        }
        metrics.lokiCircuit(state: 0)
        var recordFilter: (@Sendable (KafkaRecord) -> Bool)?
        if let replay { recordFilter = { replay.matches($0) } }
        let pipeline = Pipeline(
            configuration: configuration, decoder: decoder, metrics: metrics, logger: logger, deadLetters: deadLetters,
            holdIntake: { circuit.isOpen }, recordFilter: recordFilter, wakeScheduler: { wake.yield() })
        let threadPool = NIOThreadPool(numberOfThreads: configuration.loki.maxConcurrentPushes)
        threadPool.start()
        defer { threadPool.shutdownGracefully { _ in } }
        let pusher = LokiPusher(
            client: LokiPushClient(configuration: configuration.lokiClient), circuit: circuit, threadPool: threadPool,
            policy: retryPolicy, metrics: metrics, logger: logger)
        let consumer = try KafkaConsumerLoop(
            configuration: KafkaConsumerConfiguration(
                topics: configuration.kafka.topics, properties: configuration.kafkaProperties,
                commitInterval: configuration.kafka.commitInterval, maxPollRecords: configuration.kafka.maxPollRecords),
            delegate: pipeline, logger: logger)
        try consumer.start()
        status.started(groupMember: { consumer.isGroupMember }, loki: { circuit.isOpen ? circuit.stateDescription : nil })

        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await flushLoop(pipeline) }
            group.addTask {
                if let failure = await consumer.waitUntilFinished() {
                    wake.finish()
                    throw failure
                }
            }
            group.addTask {
                // Suspends until SIGTERM/SIGINT (or cancellation) — or, for a replay, until
                // caught up — then drains.
                if replay != nil {
                    try? await cancelWhenGracefulShutdown {
                        while !pipeline.isCaughtUp { try await Task.sleep(for: .milliseconds(200)) }
                    }
                } else {
                    try? await gracefulShutdown()
                }
                await drain(pipeline: pipeline, consumer: consumer)
                wake.finish()
            }
            let limit = configuration.loki.maxConcurrentPushes
            for await _ in wakes {
                for batch in pipeline.takeWork(limit: limit) {
                    group.addTask {
                        let outcome = await pusher.deliver(batch, stillNeeded: { pipeline.isStillNeeded(batch) })
                        pipeline.finish(batch, result: outcome.batchResult)
                    }
                }
            }
            group.cancelAll()
        }
        logger.info("bridge stopped")
    }

    /// Moves batches to their lanes when they reach `batch.wait`.
    private func flushLoop(_ pipeline: Pipeline) async {
        let tick = min(configuration.batch.wait / 4, .milliseconds(100))
        while !Task.isCancelled {
            pipeline.flushDue()
            try? await Task.sleep(for: tick)
        }
    }

    private func drain(pipeline: Pipeline, consumer: KafkaConsumerLoop) async {
        status.shuttingDown()
        logger.info("shutdown: intake stopped, flushing", metadata: ["shutdown.timeout": "\(configuration.shutdownTimeout)"])
        consumer.stopIntake()
        pipeline.beginShutdown()
        pipeline.flushAll()
        let deadline = ContinuousClock.now + configuration.shutdownTimeout
        while pipeline.pendingRecords > 0, ContinuousClock.now < deadline, !Task.isCancelled {
            // A poll round in progress when intake stopped may still add to an open batch.
            pipeline.flushAll()
            try? await Task.sleep(for: .milliseconds(20))
        }
        let left = pipeline.pendingRecords
        if left > 0 {
            logger.warning(
                "shutdown deadline reached with records not yet in Loki; they stay uncommitted and will be redelivered",
                metadata: ["kafka.records": "\(left)"])
        }
        if let error = await consumer.close() {
            logger.error("consumer ended with an error", metadata: ["error.message": "\(error.message)"])
        }
    }
}

extension BridgeConfiguration {
    /// Settings of the Loki HTTP client.
    var lokiClient: LokiClientConfiguration {
        LokiClientConfiguration(
            url: loki.url, timeout: loki.timeout, connectTimeout: loki.connectTimeout, username: loki.username,
            password: loki.password, bearerToken: loki.bearerToken, caFile: loki.caFile,
            insecureSkipVerify: loki.insecureSkipVerify, userAgent: "kafka-loki-bridge/\(BridgeVersion.current)")
    }

    /// The retry policy for pushes.
    var retryPolicy: RetryPolicy {
        RetryPolicy(
            minBackoff: loki.minBackoff, maxBackoff: loki.maxBackoff, maxAttempts: loki.maxRetries == 0 ? nil : loki.maxRetries + 1)
    }
}

/// The bridge's version, reported by `--version`, the User-Agent and `build_info`.
package enum BridgeVersion {
    /// Semantic version of this build.
    package static let current = "0.1.0"
}

extension BridgeConfiguration {
    /// The circuit breaker settings for Loki.
    var circuitBreaker: CircuitBreaker.Configuration {
        CircuitBreaker.Configuration(
            failureThreshold: max(1, loki.circuitFailureThreshold), openDuration: loki.circuitOpenDuration,
            maxOpenDuration: max(loki.circuitOpenDuration, loki.circuitMaxOpenDuration))
    }
}
