import BridgeCore

/// The bridge's whole configuration: defaults, then the YAML file, then environment variables.
///
/// Every field has a default documented in README.md ("Configuration reference"); the table
/// in ``ConfigurationKeys`` ties each YAML key to its environment variable.
package struct BridgeConfiguration: Sendable, Equatable {
    /// Kafka consumer settings.
    package var kafka = Kafka()
    /// Loki push settings.
    package var loki = Loki()
    /// Batching bounds.
    package var batch = Batch()
    /// Checks against Loki's limits before the push.
    package var validation = Validation()
    /// Dead-letter topic settings.
    package var deadLetter = DeadLetterSettings()
    /// Bytes of consumed records held in memory before intake stops. 64 MiB: with intake held
    /// (not paused) at the limit, 64 MiB was as fast as 128 on the bench, and protobuf runs
    /// peaked 15-20 MiB lower (docs/performance.md).
    package var maxInFlightBytes = 64 << 20
    /// Address of the admin HTTP server (`/metrics`, `/live`, `/ready`).
    package var httpAddress = "0.0.0.0:8080"
    /// Time allowed on SIGTERM/SIGINT to finish in-flight pushes before committing and leaving.
    package var shutdownTimeout: Duration = .seconds(20)
    /// Log level: trace, debug, info, notice, warning, error, critical.
    package var logLevel = "info"

    /// Creates the default configuration.
    package init() {}

    /// Kafka consumer settings.
    package struct Kafka: Sendable, Equatable {
        /// Bootstrap brokers, comma separated (`bootstrap.servers`).
        package var brokers = "localhost:9092"
        /// Topics to consume.
        package var topics = ["logging-events"]
        /// Consumer group.
        package var groupID = "loki-consumer-group"
        /// Where a group without committed offsets starts: earliest or latest.
        package var autoOffsetReset = "earliest"
        /// Must stay false: accepted only so existing deployments that set it keep working.
        package var enableAutoCommit = false
        /// How often done offsets are committed.
        package var commitInterval: Duration = .seconds(1)
        /// Longest wait, on a partition revoke, for its in-flight pushes before letting it go.
        package var revokeTimeout: Duration = .seconds(10)
        /// Most records taken per poll round (between two commit checks).
        package var maxPollRecords = 500
        /// Static group membership id (`group.instance.id`): a replica that restarts within
        /// `session.timeout.ms` gets its partitions back without a rebalance. Defaults to the
        /// `POD_NAME` environment variable (Kubernetes downward API) when that is set.
        package var groupInstanceID: String?
        /// Use the record key as tenant when the record has no X-Scope-OrgID header.
        package var tenantFromKey = false
        /// Pass-through librdkafka properties (TLS, SASL, timeouts, …).
        package var properties: [String: String] = [:]
    }

    /// Loki push settings.
    package struct Loki: Sendable, Equatable {
        /// Full push URL.
        package var url = "http://localhost:3100/loki/api/v1/push"
        /// Tenant used for records that carry none; `nil` sends no X-Scope-OrgID.
        package var tenantID: String?
        /// Whole-request timeout.
        package var timeout: Duration = .seconds(10)
        /// Connect timeout.
        package var connectTimeout: Duration = .seconds(5)
        /// First retry delay.
        package var minBackoff: Duration = .milliseconds(500)
        /// Largest retry delay.
        package var maxBackoff: Duration = .seconds(30)
        /// Attempts before a retriable failure is given up; 0 = never give up (default).
        package var maxRetries = 0
        /// Pushes in flight at once (one per tenant at a time, to keep stream order).
        package var maxConcurrentPushes = 4
        /// Consecutive retriable failures (5xx, 429, timeouts, connection errors) that open the circuit.
        package var circuitFailureThreshold = 5
        /// First open period; doubles after each failed probe.
        package var circuitOpenDuration: Duration = .seconds(5)
        /// Longest open period.
        package var circuitMaxOpenDuration: Duration = .seconds(30)
        /// Basic auth user.
        package var username: String?
        /// Basic auth password (secret).
        package var password: String?
        /// Bearer token (secret).
        package var bearerToken: String?
        /// CA bundle to verify Loki's certificate.
        package var caFile: String?
        /// Skip TLS verification.
        package var insecureSkipVerify = false
    }

    /// Loki's limits, applied before the push (defaults are Loki's own, see ``EntryLimits``).
    package struct Validation: Sendable, Equatable {
        /// Off only when explicitly disabled: then Loki's 400 answers are the only check.
        package var enabled = true
        /// The limits.
        package var limits = EntryLimits()
    }

    /// Where records that can never reach Loki go.
    package struct DeadLetterSettings: Sendable, Equatable {
        /// Off only when explicitly disabled; then such records are logged, counted and skipped.
        package var enabled = true
        /// Topic name; `{topic}` is replaced by the source topic.
        package var topic = "{topic}-dlq"
    }

    /// Batching bounds; defaults are Loki clients' (Promtail/Alloy) `batch_wait` and `batch_size`.
    package struct Batch: Sendable, Equatable {
        /// Longest time a record waits in a batch.
        package var wait: Duration = .seconds(1)
        /// Largest uncompressed batch size.
        package var maxBytes = 1 << 20
    }
}
