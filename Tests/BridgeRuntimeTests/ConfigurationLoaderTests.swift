import BridgeCore
import BridgeRuntime
import Testing

@Suite("ConfigurationLoader: defaults, YAML, environment")
struct ConfigurationLoaderTests {
    func load(
        yaml: String? = nil,
        _ environment: [String: String] = [:]
    ) throws(ConfigurationError)
        -> (BridgeConfiguration, notes: [String])
    {
        try ConfigurationLoader.load(yaml: yaml, environment: environment)
    }

    /// The error thrown for `yaml`/`environment`, or a recorded issue when loading succeeds.
    func refusal(
        yaml: String? = nil,
        _ environment: [String: String] = [:],
        sourceLocation: SourceLocation = #_sourceLocation
    )
        -> ConfigurationError?
    {
        do {
            _ = try load(yaml: yaml, environment)
            Issue.record("configuration was accepted", sourceLocation: sourceLocation)
            return nil
        } catch {
            return error
        }
    }

    @Test func defaults() throws {
        let (config, notes) = try load()
        #expect(config.kafka.topics == ["logging-events"])
        #expect(config.kafka.groupID == "loki-consumer-group")
        #expect(config.kafka.autoOffsetReset == "earliest")
        #expect(config.kafka.enableAutoCommit == false)
        #expect(config.batch.wait == .seconds(1))
        #expect(config.batch.maxBytes == 1_048_576)
        #expect(config.loki.tenantID == nil)
        #expect(config.kafka.properties.isEmpty)
        #expect(notes.isEmpty)
        #expect(config == BridgeConfiguration())
    }

    static let yaml = """
        kafka:
          brokers: kafka-0:9092,kafka-1:9092
          topics: [app-logs, audit-logs]
          group_id: bridge-a
          auto_offset_reset: latest
          commit_interval: 500ms
          tenant_from_key: true
          properties:
            session.timeout.ms: 6000
            security.protocol: plaintext
        loki:
          url: http://loki-write:3100/loki/api/v1/push
          tenant_id: team-a
          max_retries: 5
          max_backoff: 1m
        batch:
          wait: 2s
          max_bytes: 512KiB
        log_level: debug
        """

    @Test func yamlValuesAreApplied() throws {
        let (config, _) = try load(yaml: Self.yaml)
        #expect(config.kafka.brokers == "kafka-0:9092,kafka-1:9092")
        #expect(config.kafka.topics == ["app-logs", "audit-logs"])
        #expect(config.kafka.groupID == "bridge-a")
        #expect(config.kafka.autoOffsetReset == "latest")
        #expect(config.kafka.commitInterval == .milliseconds(500))
        #expect(config.kafka.tenantFromKey)
        #expect(config.kafka.properties == ["session.timeout.ms": "6000", "security.protocol": "plaintext"])
        #expect(config.loki.url == "http://loki-write:3100/loki/api/v1/push")
        #expect(config.loki.tenantID == "team-a")
        #expect(config.loki.maxRetries == 5)
        #expect(config.loki.maxBackoff == .seconds(60))
        #expect(config.batch.wait == .seconds(2))
        #expect(config.batch.maxBytes == 524_288)
        #expect(config.logLevel == "debug")
        #expect(config.kafkaProperties["bootstrap.servers"] == "kafka-0:9092,kafka-1:9092")
        #expect(config.kafkaProperties["group.id"] == "bridge-a")
        #expect(config.kafkaProperties["session.timeout.ms"] == "6000")
    }

    @Test func environmentOverridesYAML() throws {
        let (config, _) = try load(
            yaml: Self.yaml,
            ["BATCH_WAIT": "3s", "KAFKA_TOPICS": " x, y ,,", "LOKI_TENANT_ID": "", "KAFKA_GROUP_ID": "from-env"]
        )
        #expect(config.batch.wait == .seconds(3))
        #expect(config.kafka.topics == ["x", "y"])
        #expect(config.loki.tenantID == nil, "an empty value clears the tenant")
        #expect(config.kafka.groupID == "from-env")
        #expect(config.batch.maxBytes == 524_288, "YAML values not overridden stay")
    }

    @Test(arguments: [
        (String?.none, ["KAFKA_ENABLE_AUTO_COMMIT": "true"]),
        ("kafka:\n  enable_auto_commit: true\n", [:]),
        ("kafka:\n  enable_auto_commit: false\n", ["KAFKA_ENABLE_AUTO_COMMIT": "yes"]),
    ])
    func autoCommitIsRefused(yaml: String?, environment: [String: String]) throws {
        let error = try #require(refusal(yaml: yaml, environment))
        #expect(error.key.contains("KAFKA_ENABLE_AUTO_COMMIT"))
        #expect(error.description.contains("auto-commit"))
    }

    @Test func autoCommitFalseIsAccepted() throws {
        let (config, _) = try load(["KAFKA_ENABLE_AUTO_COMMIT": "false"])
        #expect(!config.kafka.enableAutoCommit)
        #expect(config.kafka.properties["enable.auto.commit"] == nil, "a bridge setting, not a pass-through property")
    }

    @Test func kafkaVariablesBecomeLibrdkafkaProperties() throws {
        let (config, _) = try load(["KAFKA_SESSION_TIMEOUT_MS": "6000", "KAFKA_SECURITY_PROTOCOL": "plaintext"])
        #expect(config.kafka.properties == ["session.timeout.ms": "6000", "security.protocol": "plaintext"])
        #expect(config.kafkaProperties["session.timeout.ms"] == "6000")
    }

    @Test func unknownLibrdkafkaPropertyFromTheEnvironmentNamesTheVariable() throws {
        let error = try #require(refusal(["KAFKA_NO_SUCH_THING": "1"]))
        #expect(error.key == "KAFKA_NO_SUCH_THING")
        #expect(error.problem.contains("no.such.thing"))
    }

    @Test func invalidLibrdkafkaValueFromYAMLNamesTheKey() throws {
        let error = try #require(refusal(yaml: "kafka:\n  properties:\n    session.timeout.ms: soon\n"))
        #expect(error.key == "kafka.properties.session.timeout.ms")
    }

    @Test func kubernetesServiceLinkVariablesAreIgnoredWithANote() throws {
        let links = [
            "KAFKA_PORT": "tcp://10.0.0.7:9092", "KAFKA_PORT_9092_TCP": "tcp://10.0.0.7:9092",
            "KAFKA_PORT_9092_TCP_ADDR": "10.0.0.7", "KAFKA_PORT_9092_TCP_PORT": "9092",
            "KAFKA_PORT_9092_TCP_PROTO": "tcp",
            "KAFKA_SERVICE_HOST": "10.0.0.7", "KAFKA_SERVICE_PORT": "9092", "KAFKA_SERVICE_PORT_BROKER": "9092",
        ]
        let (config, notes) = try load(links)
        #expect(config.kafka.properties.isEmpty)
        #expect(notes.count == links.count)
        for name in links.keys {
            #expect(notes.contains { $0.contains(name + ":") }, "no note for \(name)")
        }
    }

    @Test(arguments: [
        ("kafka:\n  brokres: localhost:9092\n", "kafka.brokres"),
        ("batchh:\n  wait: 1s\n", "batchh.wait"),
        ("unknown: 1\n", "unknown"),
    ])
    func unknownYAMLKeyIsRefusedByName(yaml: String, key: String) throws {
        let error = try #require(refusal(yaml: yaml))
        #expect(error.key == key)
        #expect(error.problem.contains("unknown key"))
    }

    @Test(arguments: [
        ("BATCH_WAIT", "soon"), ("KAFKA_COMMIT_INTERVAL", "10"), ("LOKI_TIMEOUT", "-1s"), ("SHUTDOWN_TIMEOUT", "1 day"),
    ])
    func invalidDurationIsRefusedNamingTheVariable(variable: String, value: String) throws {
        let error = try #require(refusal([variable: value]))
        #expect(error.key == variable)
        #expect(error.problem.contains(value))
    }

    @Test func invalidYAMLValuesNameTheirPath() throws {
        #expect(refusal(yaml: "batch:\n  wait: soon\n")?.key == "batch.wait")
        #expect(refusal(yaml: "batch:\n  max_bytes: lots\n")?.key == "batch.max_bytes")
        #expect(refusal(yaml: "loki:\n  max_retries: -1\n")?.key == "loki.max_retries")
        #expect(refusal(yaml: "kafka: [1, 2\n")?.key == "config file")
        #expect(refusal(yaml: "- a\n- b\n")?.key == "config file")
    }

    @Test func emptyYAMLDocumentKeepsDefaults() throws {
        #expect(try load(yaml: "").0 == BridgeConfiguration())
        #expect(try load(yaml: "# only a comment\n").0 == BridgeConfiguration())
    }

    @Test(arguments: [
        (["KAFKA_AUTO_OFFSET_RESET": "newest"], "KAFKA_AUTO_OFFSET_RESET"),
        (["KAFKA_TOPICS": " , "], "KAFKA_TOPICS"),
        (["LOKI_URL": "loki:3100"], "LOKI_URL"),
        (["LOKI_MIN_BACKOFF": "2s", "LOKI_MAX_BACKOFF": "1s"], "LOKI_MAX_BACKOFF"),
        (["BATCH_MAX_BYTES": "100"], "BATCH_MAX_BYTES"),
        (["BATCH_MAX_BYTES": "100MiB"], "MAX_IN_FLIGHT_BYTES"),
        (["HTTP_ADDRESS": "localhost"], "HTTP_ADDRESS"),
        (["LOG_LEVEL": "loud"], "LOG_LEVEL"),
        (["BATCH_WAIT": "0s"], "BATCH_WAIT"),
        (["LOKI_TENANT_ID": "team a"], "LOKI_TENANT_ID"),
        (["KAFKA_AUTO_OFFSET_RESET": "error"], "KAFKA_AUTO_OFFSET_RESET"),
        (["KAFKA_REVOKE_TIMEOUT": "0s"], "KAFKA_REVOKE_TIMEOUT"),
        (["SHUTDOWN_TIMEOUT": "0s"], "SHUTDOWN_TIMEOUT"),
    ])
    func inconsistentValuesAreRefusedNamingTheVariable(environment: [String: String], variable: String) throws {
        let error = try #require(refusal(environment))
        #expect(error.key.contains(variable), "\(error)")
    }

    @Test(arguments: ["group.id", "bootstrap.servers", "enable.auto.offset.store"])
    func propertiesManagedByTheBridgeAreRefused(property: String) throws {
        let error = try #require(refusal(yaml: "kafka:\n  properties:\n    \(property): x\n"))
        #expect(error.key.contains("kafka.properties.\(property)"))
    }

    @Test func renderedRedactsSecrets() throws {
        let secrets = ["s3cr3t-loki-password", "s3cr3t-bearer", "s3cr3t-sasl-password", "s3cr3t-key-password"]
        let (config, _) = try load([
            "LOKI_USERNAME": "bridge-user", "LOKI_PASSWORD": secrets[0], "LOKI_BEARER_TOKEN": secrets[1],
            "KAFKA_SASL_USERNAME": "kafka-user", "KAFKA_SASL_PASSWORD": secrets[2],
            "KAFKA_SSL_KEY_PASSWORD": secrets[3],
        ])
        let rendered = config.rendered()
        for secret in secrets { #expect(!rendered.contains(secret), "\(secret) leaked") }
        #expect(rendered.contains("<redacted>"))
        #expect(rendered.contains("bridge-user"), "non-secret values are shown")
        #expect(rendered.contains("kafka.properties.sasl.username = kafka-user"))
        #expect(rendered.contains("kafka.properties.sasl.password = <redacted>"))
        #expect(rendered.contains("kafka.properties.enable.auto.commit = false"), "enforced properties are shown")
        #expect(rendered.contains("LOKI_PASSWORD"))
    }

    @Test func renderedShowsUnsetOptionalValuesAndDurations() throws {
        let (config, _) = try load(["BATCH_WAIT": "1m30s", "KAFKA_COMMIT_INTERVAL": "250ms"])
        let lines = config.rendered().split(separator: "\n").map(String.init)
        #expect(
            lines.contains { $0.hasPrefix("batch.wait ") && $0.contains("= 1m30s") && $0.hasSuffix("# BATCH_WAIT") }
        )
        #expect(lines.contains { $0.hasPrefix("kafka.commit_interval ") && $0.contains("= 250ms") })
        #expect(lines.contains { $0.hasPrefix("loki.password ") && $0.contains("= (unset)") })
    }
}
