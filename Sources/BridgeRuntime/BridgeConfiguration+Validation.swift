import BridgeCore

extension BridgeConfiguration {
    /// Checks values that parse but make no sense together, shared by `run` and `check-config`.
    ///
    /// - Throws: ``ConfigurationError`` naming the key and the fix.
    package func validate() throws(ConfigurationError) {
        func key(_ path: String) -> String { ConfigurationKeys.all.first { $0.path == path }?.names ?? path }
        guard !kafka.enableAutoCommit else {
            throw ConfigurationError(
                key: key("kafka.enable_auto_commit"),
                problem: "auto-commit would commit offsets of records before Loki accepted them, so a crash or a Loki outage loses logs",
                fix: "set it to false or remove it; the bridge commits offsets itself after every successful push")
        }
        guard !kafka.brokers.isEmpty else {
            throw ConfigurationError(key: key("kafka.brokers"), problem: "no broker given", fix: "set host:port[,host:port…]")
        }
        guard !kafka.topics.isEmpty else {
            throw ConfigurationError(key: key("kafka.topics"), problem: "no topic given", fix: "set at least one topic, e.g. logging-events")
        }
        guard !kafka.groupID.isEmpty else {
            throw ConfigurationError(key: key("kafka.group_id"), problem: "empty consumer group", fix: "set a group id shared by all replicas")
        }
        // "error" is left out on purpose: it stops a partition with only a log line to show for it.
        let resets = ["earliest", "latest", "smallest", "largest", "beginning", "end"]
        guard resets.contains(kafka.autoOffsetReset) else {
            throw ConfigurationError(
                key: key("kafka.auto_offset_reset"), problem: "'\(kafka.autoOffsetReset)' is not an offset reset policy",
                fix: "use earliest (read the retained backlog) or latest")
        }
        for property in KafkaPropertyNames.managed where kafka.properties[property] != nil {
            throw ConfigurationError(
                key: "kafka.properties.\(property) / KAFKA_\(property.uppercased().replacingDots())",
                problem: "this librdkafka property is managed by the bridge",
                fix: "remove it; use \(KafkaPropertyNames.replacement[property] ?? "the bridge setting") instead")
        }
        try positive(kafka.commitInterval, "kafka.commit_interval")
        try positive(kafka.revokeTimeout, "kafka.revoke_timeout")
        try positive(shutdownTimeout, "shutdown_timeout")
        try positive(loki.timeout, "loki.timeout")
        try positive(loki.connectTimeout, "loki.connect_timeout")
        try positive(loki.minBackoff, "loki.min_backoff")
        try positive(batch.wait, "batch.wait")
        guard loki.maxBackoff >= loki.minBackoff else {
            throw ConfigurationError(key: key("loki.max_backoff"), problem: "smaller than loki.min_backoff", fix: "raise it")
        }
        guard loki.url.hasPrefix("http://") || loki.url.hasPrefix("https://"), loki.url.count > 8 else {
            throw ConfigurationError(
                key: key("loki.url"), problem: "'\(loki.url)' is not an http(s) URL",
                fix: "give the full push URL, e.g. http://loki-write:3100/loki/api/v1/push")
        }
        guard kafka.maxPollRecords > 0 else {
            throw ConfigurationError(key: key("kafka.max_poll_records"), problem: "must be at least 1", fix: "use e.g. 500")
        }
        guard loki.maxConcurrentPushes > 0 else {
            throw ConfigurationError(key: key("loki.max_concurrent_pushes"), problem: "must be at least 1", fix: "use e.g. 4")
        }
        guard batch.maxBytes >= 1024 else {
            throw ConfigurationError(key: key("batch.max_bytes"), problem: "below 1 KiB", fix: "use e.g. 1MiB")
        }
        guard maxInFlightBytes >= 2 * batch.maxBytes else {
            throw ConfigurationError(
                key: key("memory.max_in_flight_bytes"), problem: "must hold at least two batches (2 × batch.max_bytes)",
                fix: "raise it (default 64MiB) or lower batch.max_bytes")
        }
        guard (try? HTTPAddress(parsing: httpAddress)) != nil else {
            throw ConfigurationError(key: key("http.address"), problem: "'\(httpAddress)' is not host:port", fix: "use e.g. 0.0.0.0:8080")
        }
        if let tenant = loki.tenantID, let problem = RecordDecoder.tenantProblem(tenant) {
            throw ConfigurationError(key: key("loki.tenant_id"), problem: "'\(tenant)' \(problem)", fix: "use a valid Loki tenant ID")
        }
        if deadLetter.enabled {
            guard !deadLetter.topic.isEmpty else {
                throw ConfigurationError(
                    key: key("dlq.topic"), problem: "empty dead-letter topic", fix: "use e.g. {topic}-dlq, or set DLQ_ENABLED=false")
            }
            let sources = kafka.topics.filter { !$0.hasPrefix("^") }
            if let loop = sources.first(where: { DeadLetter.topic(template: deadLetter.topic, source: $0) == $0 || sources.contains(DeadLetter.topic(template: deadLetter.topic, source: $0)) }) {
                throw ConfigurationError(
                    key: key("dlq.topic"), problem: "the dead-letter topic of '\(loop)' is one of the consumed topics",
                    fix: "dead letters would be consumed again; use a template such as {topic}-dlq")
            }
        }
        guard LogLevelName.parse(logLevel) != nil else {
            throw ConfigurationError(
                key: key("log_level"), problem: "'\(logLevel)' is not a log level",
                fix: "use trace, debug, info, notice, warning, error or critical")
        }
    }

    private func positive(_ value: Duration, _ path: String) throws(ConfigurationError) {
        guard value > .zero else {
            let names = ConfigurationKeys.all.first { $0.path == path }?.names ?? path
            throw ConfigurationError(key: names, problem: "must be greater than zero", fix: "use a duration such as 1s")
        }
    }
}

/// librdkafka properties the bridge sets from its own settings.
enum KafkaPropertyNames {
    static let replacement: [String: String] = [
        "bootstrap.servers": "KAFKA_BROKERS (kafka.brokers)",
        "metadata.broker.list": "KAFKA_BROKERS (kafka.brokers)",
        "group.id": "KAFKA_GROUP_ID (kafka.group_id)",
        "group.instance.id": "KAFKA_GROUP_INSTANCE_ID (kafka.group_instance_id)",
        "enable.auto.offset.store": "nothing: the bridge stores offsets only after Loki accepted the records",
    ]
    static let managed = replacement.keys.sorted()
}

extension String {
    fileprivate func replacingDots() -> String { String(map { $0 == "." ? "_" : $0 }) }
}
