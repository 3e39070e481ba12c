import ArgumentParser
import BridgeCore
import BridgeRuntime
import Logging
import Metrics
import Prometheus

extension KafkaLokiBridge {
    /// `dlq …`: the dead-letter topic.
    struct DeadLetters: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dlq", abstract: "Work with the dead-letter topic.", subcommands: [Replay.self])
    }
}

extension KafkaLokiBridge.DeadLetters {
    /// `dlq replay`: re-push dead letters once the cause is fixed.
    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-push dead-lettered records to Loki (dry run unless --execute).",
            discussion: """
                Reads the dead-letter topics (by default the configured topics through DLQ_TOPIC, \
                e.g. logging-events-dlq) with a consumer group of its own (default \
                <KAFKA_GROUP_ID>-dlq-replay) up to their current ends, selects records by tenant, \
                reason and first-failure time, and decodes and pushes them exactly as the bridge \
                does (same Loki settings, limits and retries). Offsets of the replay group are \
                committed only after Loki accepted the records; records not selected are passed \
                over (committed too), so use a new --group to replay them with another filter. \
                A record that fails again stays in the dead-letter topic and is logged.

                Replaying is safe: Loki drops entries identical to ones it holds.

                Without --execute nothing is pushed or committed: the command prints what it \
                would replay, per tenant and reason.
                """)

        @OptionGroup var global: GlobalOptions

        @Option(name: .customLong("topic"), help: "Dead-letter topic to read (repeatable). Default: the configured topics through DLQ_TOPIC.")
        var topics: [String] = []

        @Option(help: "Consumer group of the replay. Default: <KAFKA_GROUP_ID>-dlq-replay.")
        var group: String?

        @Option(name: .customLong("tenant"), help: "Replay only this tenant (x-dlq-tenant; repeatable).")
        var tenants: [String] = []

        @Option(name: .customLong("reason"), help: "Replay only this reason (x-dlq-reason, e.g. loki_rejected; repeatable).")
        var reasons: [String] = []

        @Option(help: "Replay only records that first failed at or after this RFC 3339 time.")
        var since: String?

        @Option(help: "Replay only records that first failed before this RFC 3339 time.")
        var until: String?

        @Option(help: "Dry run: give up after this long if a topic cannot be read to its end (e.g. 2m).")
        var timeout: String = "2m"

        @Flag(help: "Push to Loki and commit. Without it: dry run.")
        var execute = false

        func validate() throws {
            for (name, value) in [("--since", since), ("--until", until)] {
                if let value, RFC3339.parseNanos(value) == nil {
                    throw ValidationError("\(name) '\(value)' is not an RFC 3339 time such as 2026-11-20T08:00:00Z")
                }
            }
            guard ConfigValueParser.duration(timeout) != nil else {
                throw ValidationError("--timeout '\(timeout)' is not a duration such as 30s or 2m")
            }
        }

        func run() async throws {
            let base: BridgeConfiguration
            do {
                base = try global.loadConfiguration().0
            } catch let error as ConfigurationError {
                throw ValidationError(error.description)
            }
            let configuration = DeadLetterReplay.configuration(
                from: base, topics: topics.isEmpty ? nil : topics, group: group)
            let filter = DeadLetterFilter(
                tenants: Set(tenants), reasons: Set(reasons),
                sinceMillis: since.flatMap(RFC3339.parseNanos).map { $0 / 1_000_000 },
                untilMillis: until.flatMap(RFC3339.parseNanos).map { $0 / 1_000_000 })
            let level = LogLevelName.parse(configuration.logLevel) ?? .info
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
            let logger = Logger(label: "kafka-loki-bridge.dlq-replay")
            let scope = "topics \(configuration.kafka.topics.joined(separator: ",")), group \(configuration.kafka.groupID)"
            if !execute {
                let (summary, complete) = try await DeadLetterReplay.dryRun(
                    configuration: configuration, filter: filter, timeout: ConfigValueParser.duration(timeout) ?? .seconds(120),
                    logger: logger)
                print("dry run (\(scope)): nothing pushed, nothing committed")
                print(summary)
                if !complete {
                    print("incomplete: the topics could not be read to their ends in \(timeout) (do they exist?)")
                    throw ExitCode.failure
                }
                print("run again with --execute to push the selected records")
                return
            }
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            let metrics = BridgeMetrics(factory: MetricsSystem.factory, version: BridgeVersion.current)
            try await DeadLetterReplay.execute(configuration: configuration, filter: filter, metrics: metrics, logger: logger)
            print("replay finished (\(scope))")
            print(ReplayReport(registry.emitToString()))
        }
    }
}

/// The replay's totals, read back from its own Prometheus metrics.
private struct ReplayReport: CustomStringConvertible {
    var lines: [String]

    init(_ exposition: String) {
        let wanted = ["kafka_loki_bridge_records_consumed_total", "kafka_loki_bridge_entries_pushed_total", "kafka_loki_bridge_pushes_total"]
        var totals: [String: Double] = [:]
        for line in exposition.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            guard parts.count >= 2, let value = Double(parts[parts.count - 1]) else { continue }
            let series = String(parts[0])
            let name = String(series.prefix { $0 != "{" })
            guard wanted.contains(name) else { continue }
            let key = name == "kafka_loki_bridge_records_consumed_total" ? name : series
            totals[key, default: 0] += value
        }
        lines = totals.sorted { $0.key < $1.key }.map { "  \(Int($0.value))\t\($0.key)" }
    }

    var description: String { lines.joined(separator: "\n") }
}
