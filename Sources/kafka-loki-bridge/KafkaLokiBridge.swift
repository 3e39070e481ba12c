import ArgumentParser
import BridgeRuntime

/// The `kafka-loki-bridge` command line.
@main
struct KafkaLokiBridge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka-loki-bridge",
        abstract: "Consume Loki push payloads from Kafka and deliver them to Loki, at least once.",
        discussion: """
            Consumer-group workers read the configured topics with auto-commit off, decode the \
            records (Loki push bodies in protobuf+snappy or JSON, as the alloy-distributor writes \
            them), rebuild push requests per tenant, push them to Loki and commit offsets only \
            after Loki accepted them: at-least-once, never a lost line.

            Configuration comes from a YAML file (--config) and environment variables; the \
            environment wins. 'kafka-loki-bridge check-config' prints the effective settings.

            Examples:
              export KAFKA_BROKERS=kafka:9092
              export LOKI_URL=http://loki-write:3100/loki/api/v1/push
              kafka-loki-bridge run
              kafka-loki-bridge check-config --config /etc/kafka-loki-bridge/config.yaml
            """,
        version: BridgeVersion.current,
        subcommands: [Run.self, CheckConfig.self, DeadLetters.self],
        defaultSubcommand: Run.self)
}
