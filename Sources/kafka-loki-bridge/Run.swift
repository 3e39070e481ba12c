import ArgumentParser
import BridgeRuntime
import Logging
import Metrics
import Prometheus

extension KafkaLokiBridge {
    /// `run`: the long-running service.
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the bridge until SIGTERM or SIGINT (the default command).",
            discussion: """
                Joins the consumer group, pushes to Loki and serves /metrics, /live and /ready on \
                HTTP_ADDRESS. On SIGTERM/SIGINT it stops fetching, finishes in-flight pushes within \
                SHUTDOWN_TIMEOUT, commits what Loki accepted, leaves the group and exits 0.

                Main settings: KAFKA_BROKERS, KAFKA_TOPICS (default logging-events), KAFKA_GROUP_ID \
                (default loki-consumer-group), LOKI_URL, LOKI_TENANT_ID, HTTP_ADDRESS. Any other \
                KAFKA_<NAME> sets the librdkafka property <name> (lower case, _ becomes .), e.g. \
                KAFKA_SECURITY_PROTOCOL=SASL_SSL. 'check-config' lists every setting.

                Exit codes: 0 after a clean shutdown, 64 for invalid configuration, 1 when the \
                consumer failed (fatal Kafka error) or could not start.
                """)

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let (configuration, notes): (BridgeConfiguration, [String])
            do {
                (configuration, notes) = try global.loadConfiguration()
            } catch let error as ConfigurationError {
                throw ValidationError(error.description)
            }
            let level = LogLevelName.parse(configuration.logLevel) ?? .info
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            let logger = Logger(label: "kafka-loki-bridge")
            for note in notes { logger.notice("configuration note", metadata: ["note": "\(note)"]) }
            do {
                try await BridgeApplication.run(configuration: configuration, registry: registry, logger: logger)
            } catch {
                logger.critical("bridge failed", metadata: ["error.message": "\(error)"])
                throw ExitCode.failure
            }
        }
    }
}
