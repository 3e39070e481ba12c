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

    /// Creates a configuration.
    package init(
        topics: [String], properties: [String: String], commitInterval: Duration = .seconds(1),
        maxPollRecords: Int = 500
    ) {
        self.topics = topics
        self.properties = properties
        self.commitInterval = commitInterval
        self.maxPollRecords = maxPollRecords
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
        // librdkafka's 1 GiB default local queue would defeat the bridge's memory budget.
        "queued.max.messages.kbytes": "65536",
    ]

    /// The properties handed to librdkafka: defaults, then the user's, then the enforced ones.
    package var effectiveProperties: [String: String] {
        Self.defaultProperties.merging(properties) { $1 }.merging(Self.enforcedProperties) { $1 }
    }
}
