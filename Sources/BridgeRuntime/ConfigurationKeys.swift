import BridgeCore

/// One setting: where it is read from (YAML path and environment variable), how it is parsed,
/// and how it is shown by `check-config`.
package struct ConfigurationKey: Sendable {
    /// Dotted YAML path, e.g. `kafka.group_id`.
    package var path: String
    /// Environment variable, e.g. `KAFKA_GROUP_ID`.
    package var env: String
    /// Whether `check-config` must redact the value.
    package var secret: Bool
    /// One-line description (README and `--help`).
    package var help: String
    let apply: @Sendable (inout BridgeConfiguration, String) -> String?
    let render: @Sendable (BridgeConfiguration) -> String?

    /// Both names, for error messages: `KAFKA_GROUP_ID (kafka.group_id)`.
    package var names: String { "\(env) (\(path))" }
}

/// The table of every setting. Environment variables `KAFKA_<NAME>` not listed here map to
/// the librdkafka property `<name>` (lower-cased, `_` → `.`).
package enum ConfigurationKeys {
    package static let all: [ConfigurationKey] = [
        string("kafka.brokers", "KAFKA_BROKERS", "Bootstrap brokers, comma separated (librdkafka bootstrap.servers).") {
            $0.kafka.brokers = $1
        } get: { $0.kafka.brokers },
        ConfigurationKey(
            path: "kafka.topics", env: "KAFKA_TOPICS", secret: false, help: "Topics to consume, comma separated.",
            apply: { config, value in
                config.kafka.topics = value.split(separator: ",").map { String($0).trimmed }.filter { !$0.isEmpty }
                return nil
            }, render: { $0.kafka.topics.joined(separator: ",") }),
        string("kafka.group_id", "KAFKA_GROUP_ID", "Consumer group shared by all replicas.") { $0.kafka.groupID = $1 } get: {
            $0.kafka.groupID
        },
        string("kafka.auto_offset_reset", "KAFKA_AUTO_OFFSET_RESET", "Start of a group without committed offsets: earliest or latest.") {
            $0.kafka.autoOffsetReset = $1.lowercased()
        } get: { $0.kafka.autoOffsetReset },
        bool("kafka.enable_auto_commit", "KAFKA_ENABLE_AUTO_COMMIT", "Must be false: the bridge commits only what Loki accepted.") {
            $0.kafka.enableAutoCommit = $1
        } get: { $0.kafka.enableAutoCommit },
        duration("kafka.commit_interval", "KAFKA_COMMIT_INTERVAL", "How often done offsets are committed.") {
            $0.kafka.commitInterval = $1
        } get: { $0.kafka.commitInterval },
        duration("kafka.revoke_timeout", "KAFKA_REVOKE_TIMEOUT", "Wait for in-flight pushes of revoked partitions before releasing them.") {
            $0.kafka.revokeTimeout = $1
        } get: { $0.kafka.revokeTimeout },
        integer("kafka.max_poll_records", "KAFKA_MAX_POLL_RECORDS", "Most records taken per poll round (between two commit checks).") {
            $0.kafka.maxPollRecords = $1
        } get: { $0.kafka.maxPollRecords },
        optionalString(
            "kafka.group_instance_id", "KAFKA_GROUP_INSTANCE_ID",
            "Static membership id (group.instance.id); default: $POD_NAME when set, else dynamic membership."
        ) { $0.kafka.groupInstanceID = $1 } get: { $0.kafka.groupInstanceID },
        bool("kafka.tenant_from_key", "KAFKA_TENANT_FROM_KEY", "Use the record key as tenant when there is no X-Scope-OrgID header.") {
            $0.kafka.tenantFromKey = $1
        } get: { $0.kafka.tenantFromKey },
        string("loki.url", "LOKI_URL", "Loki push URL (…/loki/api/v1/push).") { $0.loki.url = $1 } get: { $0.loki.url },
        optionalString("loki.tenant_id", "LOKI_TENANT_ID", "Default tenant for records without one; empty sends no X-Scope-OrgID.") {
            $0.loki.tenantID = $1
        } get: { $0.loki.tenantID },
        duration("loki.timeout", "LOKI_TIMEOUT", "Timeout of one push request.") { $0.loki.timeout = $1 } get: { $0.loki.timeout },
        duration("loki.connect_timeout", "LOKI_CONNECT_TIMEOUT", "Connect timeout.") { $0.loki.connectTimeout = $1 } get: {
            $0.loki.connectTimeout
        },
        duration("loki.min_backoff", "LOKI_MIN_BACKOFF", "First retry delay after 429/5xx/network errors.") {
            $0.loki.minBackoff = $1
        } get: { $0.loki.minBackoff },
        duration("loki.max_backoff", "LOKI_MAX_BACKOFF", "Largest retry delay.") { $0.loki.maxBackoff = $1 } get: {
            $0.loki.maxBackoff
        },
        integer("loki.max_retries", "LOKI_MAX_RETRIES", "Retries before giving a batch up; 0 = retry forever (never drop).") {
            $0.loki.maxRetries = $1
        } get: { $0.loki.maxRetries },
        integer("loki.max_concurrent_pushes", "LOKI_MAX_CONCURRENT_PUSHES", "Pushes in flight at once (at most one per tenant).") {
            $0.loki.maxConcurrentPushes = $1
        } get: { $0.loki.maxConcurrentPushes },
        integer("loki.circuit_failure_threshold", "LOKI_CIRCUIT_FAILURE_THRESHOLD", "Consecutive retriable failures that open Loki's circuit.") {
            $0.loki.circuitFailureThreshold = $1
        } get: { $0.loki.circuitFailureThreshold },
        duration("loki.circuit_open_duration", "LOKI_CIRCUIT_OPEN_DURATION", "First open period of the circuit; doubles per failed probe.") {
            $0.loki.circuitOpenDuration = $1
        } get: { $0.loki.circuitOpenDuration },
        duration("loki.circuit_max_open_duration", "LOKI_CIRCUIT_MAX_OPEN_DURATION", "Longest open period of the circuit.") {
            $0.loki.circuitMaxOpenDuration = $1
        } get: { $0.loki.circuitMaxOpenDuration },
        optionalString("loki.username", "LOKI_USERNAME", "Basic auth user.") { $0.loki.username = $1 } get: { $0.loki.username },
        optionalString("loki.password", "LOKI_PASSWORD", "Basic auth password.", secret: true) { $0.loki.password = $1 } get: {
            $0.loki.password
        },
        optionalString("loki.bearer_token", "LOKI_BEARER_TOKEN", "Bearer token.", secret: true) { $0.loki.bearerToken = $1 } get: {
            $0.loki.bearerToken
        },
        optionalString("loki.ca_file", "LOKI_CA_FILE", "PEM CA bundle to verify Loki's TLS certificate.") { $0.loki.caFile = $1 } get: {
            $0.loki.caFile
        },
        bool("loki.insecure_skip_verify", "LOKI_INSECURE_SKIP_VERIFY", "Skip TLS verification (testing only).") {
            $0.loki.insecureSkipVerify = $1
        } get: { $0.loki.insecureSkipVerify },
        bool("validation.enabled", "VALIDATION_ENABLED", "Check entries against Loki's limits before the push.") {
            $0.validation.enabled = $1
        } get: { $0.validation.enabled },
        duration("validation.max_age", "VALIDATION_MAX_AGE", "Oldest accepted entry (Loki's reject_old_samples_max_age).") {
            $0.validation.limits.maxAge = $1
        } get: { $0.validation.limits.maxAge },
        duration("validation.creation_grace_period", "VALIDATION_CREATION_GRACE_PERIOD", "How far in the future an entry may be (Loki's creation_grace_period).") {
            $0.validation.limits.creationGracePeriod = $1
        } get: { $0.validation.limits.creationGracePeriod },
        size("validation.max_line_bytes", "VALIDATION_MAX_LINE_BYTES", "Longest line (Loki's max_line_size); 0 = no limit.") {
            $0.validation.limits.maxLineBytes = $1
        } get: { $0.validation.limits.maxLineBytes },
        ConfigurationKey(
            path: "validation.oversize_policy", env: "VALIDATION_OVERSIZE_POLICY", secret: false,
            help: "Lines over the maximum: truncate, or reject (dead-letter the record).",
            apply: { config, value in
                guard let policy = EntryLimits.OversizePolicy(rawValue: value.trimmed.lowercased()) else {
                    return "write truncate or reject"
                }
                config.validation.limits.oversizePolicy = policy
                return nil
            }, render: { $0.validation.limits.oversizePolicy.rawValue }),
        integer("validation.max_label_names_per_series", "VALIDATION_MAX_LABEL_NAMES_PER_SERIES", "Most labels per stream (Loki's max_label_names_per_series).") {
            $0.validation.limits.maxLabelNamesPerSeries = $1
        } get: { $0.validation.limits.maxLabelNamesPerSeries },
        bool("dlq.enabled", "DLQ_ENABLED", "Dead-letter topic for records that can never reach Loki; false logs and skips them.") {
            $0.deadLetter.enabled = $1
        } get: { $0.deadLetter.enabled },
        string("dlq.topic", "DLQ_TOPIC", "Dead-letter topic; {topic} is replaced by the source topic.") { $0.deadLetter.topic = $1 } get: {
            $0.deadLetter.topic
        },
        duration("batch.wait", "BATCH_WAIT", "Longest time a record waits in a batch.") { $0.batch.wait = $1 } get: { $0.batch.wait },
        size("batch.max_bytes", "BATCH_MAX_BYTES", "Largest uncompressed batch (e.g. 1MiB).") { $0.batch.maxBytes = $1 } get: {
            $0.batch.maxBytes
        },
        size("memory.max_in_flight_bytes", "MAX_IN_FLIGHT_BYTES", "Record bytes held before intake pauses.") {
            $0.maxInFlightBytes = $1
        } get: { $0.maxInFlightBytes },
        string("http.address", "HTTP_ADDRESS", "Admin HTTP server address (/metrics, /live, /ready).") { $0.httpAddress = $1 } get: {
            $0.httpAddress
        },
        duration("shutdown_timeout", "SHUTDOWN_TIMEOUT", "Time to finish in-flight pushes on SIGTERM before committing and leaving.") {
            $0.shutdownTimeout = $1
        } get: { $0.shutdownTimeout },
        string("log_level", "LOG_LEVEL", "trace, debug, info, notice, warning, error or critical.") { $0.logLevel = $1.lowercased() } get: {
            $0.logLevel
        },
    ]

    /// Environment variables with the `KAFKA_` prefix that are bridge settings, not librdkafka properties.
    package static let reservedKafkaVariables = Set(all.map(\.env).filter { $0.hasPrefix("KAFKA_") })

    // MARK: - Builders

    private static func string(
        _ path: String, _ env: String, _ help: String, set: @escaping @Sendable (inout BridgeConfiguration, String) -> Void,
        get: @escaping @Sendable (BridgeConfiguration) -> String
    ) -> ConfigurationKey {
        ConfigurationKey(
            path: path, env: env, secret: false, help: help,
            apply: { set(&$0, $1.trimmed)
                return nil
            }, render: get)
    }

    private static func optionalString(
        _ path: String, _ env: String, _ help: String, secret: Bool = false,
        set: @escaping @Sendable (inout BridgeConfiguration, String?) -> Void,
        get: @escaping @Sendable (BridgeConfiguration) -> String?
    ) -> ConfigurationKey {
        ConfigurationKey(
            path: path, env: env, secret: secret, help: help,
            apply: { config, value in
                let trimmed = value.trimmed
                set(&config, trimmed.isEmpty ? nil : trimmed)
                return nil
            }, render: get)
    }

    private static func bool(
        _ path: String, _ env: String, _ help: String, set: @escaping @Sendable (inout BridgeConfiguration, Bool) -> Void,
        get: @escaping @Sendable (BridgeConfiguration) -> Bool
    ) -> ConfigurationKey {
        ConfigurationKey(
            path: path, env: env, secret: false, help: help,
            apply: { config, value in
                guard let parsed = ConfigValueParser.bool(value) else { return "write true or false" }
                set(&config, parsed)
                return nil
            }, render: { "\(get($0))" })
    }

    private static func integer(
        _ path: String, _ env: String, _ help: String, set: @escaping @Sendable (inout BridgeConfiguration, Int) -> Void,
        get: @escaping @Sendable (BridgeConfiguration) -> Int
    ) -> ConfigurationKey {
        ConfigurationKey(
            path: path, env: env, secret: false, help: help,
            apply: { config, value in
                guard let parsed = Int(value.trimmed), parsed >= 0 else { return "write a whole number ≥ 0" }
                set(&config, parsed)
                return nil
            }, render: { "\(get($0))" })
    }

    private static func duration(
        _ path: String, _ env: String, _ help: String, set: @escaping @Sendable (inout BridgeConfiguration, Duration) -> Void,
        get: @escaping @Sendable (BridgeConfiguration) -> Duration
    ) -> ConfigurationKey {
        ConfigurationKey(
            path: path, env: env, secret: false, help: help,
            apply: { config, value in
                guard let parsed = ConfigValueParser.duration(value) else {
                    return "write a duration such as 500ms, 1s, 2m or 1h30m"
                }
                set(&config, parsed)
                return nil
            }, render: { DurationFormatter.format(get($0)) })
    }

    private static func size(
        _ path: String, _ env: String, _ help: String, set: @escaping @Sendable (inout BridgeConfiguration, Int) -> Void,
        get: @escaping @Sendable (BridgeConfiguration) -> Int
    ) -> ConfigurationKey {
        ConfigurationKey(
            path: path, env: env, secret: false, help: help,
            apply: { config, value in
                guard let parsed = ConfigValueParser.byteSize(value) else {
                    return "write a size such as 1048576, 512KiB, 1MiB or 2GiB"
                }
                set(&config, parsed)
                return nil
            }, render: { "\(get($0))" })
    }
}

/// Renders durations the way the configuration accepts them (`1s`, `500ms`, `1m30s`).
package enum DurationFormatter {
    /// Formats `duration` compactly.
    package static func format(_ duration: Duration) -> String {
        let millis = Int64(duration.seconds * 1000 + 0.5)
        if millis == 0 { return "0s" }
        if millis % 1000 != 0 { return millis < 60_000 ? "\(millis)ms" : "\(Double(millis) / 1000)s" }
        var seconds = millis / 1000
        var out = ""
        if seconds >= 3600 {
            out += "\(seconds / 3600)h"
            seconds %= 3600
        }
        if seconds >= 60 {
            out += "\(seconds / 60)m"
            seconds %= 60
        }
        if seconds > 0 || out.isEmpty { out += "\(seconds)s" }
        return out
    }
}
