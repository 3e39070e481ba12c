import BridgeCore

/// Settings of the consumer-group member.
package struct KafkaConsumerConfiguration: Sendable {
    /// Topics to subscribe to (names; a `^` prefix makes a regex subscription, as in librdkafka).
    package var topics: [String]
    /// librdkafka properties, already including `bootstrap.servers`, `group.id`,
    /// `auto.offset.reset` and any pass-through keys. The consumer forces auto-commit off.
    package var properties: [String: String]
    /// How often done offsets are committed.
    package var commitInterval: Duration
    /// Most records taken per poll round (between two commit checks).
    package var maxPollRecords: Int
    /// Longest time intake is held (no poll, partitions left alone) before the partitions are
    /// paused; see ``IntakeGate``. Capped by ``effectiveHoldLimit``.
    package var intakeHoldLimit: Duration

    /// Creates a configuration.
    package init(
        topics: [String], properties: [String: String], commitInterval: Duration = .seconds(1),
        maxPollRecords: Int = 500, intakeHoldLimit: Duration = .seconds(1)
    ) {
        self.topics = topics
        self.properties = properties
        self.commitInterval = commitInterval
        self.maxPollRecords = maxPollRecords
        self.intakeHoldLimit = intakeHoldLimit
    }

    /// The hold limit, at most a tenth of `max.poll.interval.ms` when that is set: a held
    /// consumer does not poll, and librdkafka makes a member that polls too rarely leave the
    /// group. A tenth keeps the hold far from that limit whatever else delays the poll thread.
    package var effectiveHoldLimit: Duration {
        guard let text = properties["max.poll.interval.ms"], let ms = Int64(text), ms > 0 else { return intakeHoldLimit }
        return min(intakeHoldLimit, .milliseconds(ms) / 10)
    }

    /// Properties the bridge sets whatever the user says: offsets are stored and committed only
    /// by the bridge, after Loki accepted the records (at-least-once).
    package static let enforcedProperties: [String: String] = [
        "enable.auto.commit": "false",
        "enable.auto.offset.store": "false",
        "enable.partition.eof": "false",
    ]

    /// Defaults the user may override.
    package static let defaultProperties: [String: String] = [
        "partition.assignment.strategy": "cooperative-sticky",
        "client.id": "kafka-loki-bridge",
        "auto.offset.reset": "earliest",
        // librdkafka's 1 GiB default local queue would defeat the bridge's memory budget. 32 MiB:
        // with 64 MiB one of three JSON bench runs peaked at 262 MiB RSS; with 32 MiB, three runs
        // per format peaked at 143-167 MiB at the same throughput (docs/performance.md).
        "queued.max.messages.kbytes": "32768",
    ]

    /// Defaults applied only when the librdkafka loaded at run time knows the property (older
    /// builds, such as Debian 12's 2.0.2, refuse unknown keys).
    ///
    /// `fetch.queue.backoff.ms` (librdkafka ≥ 2.1, default 1000): once the local queue reaches
    /// `queued.max.messages.kbytes`, librdkafka postpones the partition's next fetch by this
    /// long. The bridge drains the queue while it pushes, so the queue is often just over the
    /// threshold and the default left the consumer idle for up to a second at a time: `make
    /// bench` went from ~500k to ~800k lines/s with 20 ms (docs/performance.md).
    package static let defaultPropertiesIfSupported: [String: String] = [
        "fetch.queue.backoff.ms": "20"
    ]

    /// The properties handed to librdkafka: defaults, then the user's, then the enforced ones.
    package var effectiveProperties: [String: String] {
        let supported = Self.defaultPropertiesIfSupported.filter { RDKafkaPropertyValidator.isSupported($0.key) }
        return Self.defaultProperties.merging(supported) { $1 }.merging(properties) { $1 }
            .merging(Self.enforcedProperties) { $1 }
    }
}
