import Foundation
import KafkaInput
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import UnixSignals

/// Runs the bridge and its admin server until SIGTERM/SIGINT.
package enum BridgeApplication {
    /// Runs until a graceful shutdown completes.
    ///
    /// - Parameters:
    ///   - configuration: validated configuration.
    ///   - registry: the Prometheus registry the executable bootstrapped `MetricsSystem` with.
    ///   - logger: the root logger.
    /// - Throws: when the consumer cannot start or fails fatally.
    package static func run(
        configuration: BridgeConfiguration, registry: PrometheusCollectorRegistry, logger: Logger
    ) async throws {
        let address = try HTTPAddress(parsing: configuration.httpAddress)
        let metrics = BridgeMetrics(factory: MetricsSystem.factory, version: BridgeVersion.current)
        let status = BridgeStatus()
        let admin = AdminServer(
            address: address,
            endpoints: .init(metrics: { registry.emitToBuffer() }, readiness: { status.readiness }),
            logger: logger)
        let bridge = BridgeService(configuration: configuration, metrics: metrics, status: status, logger: logger)
        logger.info(
            "starting kafka-loki-bridge",
            metadata: [
                "version": "\(BridgeVersion.current)", "librdkafka.version": "\(RDKafkaPropertyValidator.libraryVersion)",
                "kafka.brokers": "\(configuration.kafka.brokers)", "kafka.topics": "\(configuration.kafka.topics.joined(separator: ","))",
                "kafka.group.id": "\(configuration.kafka.groupID)", "loki.url": "\(configuration.loki.url)",
            ])
        var groupConfiguration = ServiceGroupConfiguration(
            services: [.init(service: admin), .init(service: bridge)], gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        // After the drain deadline, the final revoke and close get a margin before cancellation.
        groupConfiguration.maximumGracefulShutdownDuration =
            configuration.shutdownTimeout + configuration.loki.timeout + .seconds(15)
        let group = ServiceGroup(configuration: groupConfiguration)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            tasks.addTask { await exitOnSecondSignal(logger: logger) }
            // The service group ending (clean shutdown or failure) ends the watcher too.
            try await tasks.next()
            tasks.cancelAll()
        }
    }

    /// The first SIGTERM/SIGINT starts the graceful shutdown (ServiceGroup); a second one means
    /// the operator does not want to wait: exit at once with 130, committing nothing more.
    /// Offsets of records not yet done were never committed, so they are redelivered.
    private static func exitOnSecondSignal(logger: Logger) async {
        var received = 0
        for await signal in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
            received += 1
            if received >= 2 {
                logger.warning(
                    "second signal: exiting now without waiting for in-flight pushes; unfinished records will be redelivered",
                    metadata: ["signal": "\(signal)"])
                exit(130)
            }
        }
    }
}
