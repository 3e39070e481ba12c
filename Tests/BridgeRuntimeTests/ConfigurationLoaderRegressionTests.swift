import BridgeRuntime
import Testing

/// Regressions found by review: values must reach the bridge exactly as written, Kubernetes
/// service links of any `kafka…` service must be ignored, and absurd values refused, not trapped.
@Suite("ConfigurationLoader: regressions")
struct ConfigurationLoaderRegressionTests {
    /// YAML 1.1 resolution would turn tenant `007` into `7`, password `0123` into `83` (octal)
    /// and `12:30` into `750`; the loader must take the scalar text as written.
    @Test(arguments: ["007", "0123", "0x1F", "12:30", "1e3", "1_000", "yes", "0.10"])
    func yamlStringValuesAreTakenAsWritten(value: String) throws {
        // ':' is not allowed in a Loki tenant ID, so the sexagesimal case skips tenant_id.
        let tenant = value.contains(":") ? "" : "  tenant_id: \(value)\n"
        let yaml = "loki:\n\(tenant)  password: \(value)\nkafka:\n  group_id: \(value)\n"
        let (config, _) = try ConfigurationLoader.load(yaml: yaml, environment: [:])
        #expect(config.loki.tenantID == (tenant.isEmpty ? nil : value))
        #expect(config.loki.password == value)
        #expect(config.kafka.groupID == value)
    }

    /// `kafka.properties` values keep their text too (a `sasl.password: 0123` must not become 83).
    @Test func yamlPropertyValuesAreTakenAsWritten() throws {
        let yaml = "kafka:\n  properties:\n    sasl.password: 0123\n    session.timeout.ms: 06000\n"
        let (config, _) = try ConfigurationLoader.load(yaml: yaml, environment: [:])
        #expect(config.kafka.properties["sasl.password"] == "0123")
        #expect(config.kafka.properties["session.timeout.ms"] == "06000")
    }

    /// A Service named `kafka-headless` injects `KAFKA_HEADLESS_PORT=tcp://…` and friends.
    @Test func serviceLinksOfServicesNamedKafkaSomethingAreIgnored() throws {
        let environment = [
            "KAFKA_HEADLESS_PORT": "tcp://10.0.0.11:9092", "KAFKA_HEADLESS_SERVICE_HOST": "10.0.0.11",
            "KAFKA_HEADLESS_SERVICE_PORT": "9092", "KAFKA_HEADLESS_PORT_9092_TCP_ADDR": "10.0.0.11",
            "KAFKA_HEADLESS_PORT_9092_TCP_PORT": "9092",
        ]
        let (config, notes) = try ConfigurationLoader.load(yaml: nil, environment: environment)
        #expect(config.kafka.properties.isEmpty)
        #expect(notes.count == environment.count)
    }

    /// A duration too large for `Duration` is refused with an error naming the variable.
    @Test func hugeDurationIsRefusedNotACrash() {
        #expect {
            try ConfigurationLoader.load(yaml: nil, environment: ["LOKI_TIMEOUT": "9999999999h"])
        } throws: { error in
            (error as? ConfigurationError)?.key == "LOKI_TIMEOUT"
        }
    }
}

@Suite("check-config rendering")
struct ConfigurationRenderingTests {
    /// Credentials written into LOKI_URL must not be printed.
    @Test func urlUserInfoIsRedacted() throws {
        let (config, _) = try ConfigurationLoader.load(
            yaml: nil, environment: ["LOKI_URL": "https://bridge:s3cr3t@loki.example:3100/loki/api/v1/push"])
        let text = config.rendered()
        #expect(!text.contains("s3cr3t"))
        #expect(text.contains("https://<redacted>@loki.example:3100/loki/api/v1/push"))
    }
}
