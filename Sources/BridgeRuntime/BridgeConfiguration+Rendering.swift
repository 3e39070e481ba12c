import Foundation
import KafkaInput

extension BridgeConfiguration {
    /// librdkafka properties the consumer is created with (before the bridge's enforced ones).
    package var kafkaProperties: [String: String] {
        var properties = kafka.properties
        properties["bootstrap.servers"] = kafka.brokers
        properties["group.id"] = kafka.groupID
        properties["auto.offset.reset"] = kafka.autoOffsetReset
        if let instance = kafka.groupInstanceID { properties["group.instance.id"] = instance }
        return properties
    }

    /// The effective configuration as `check-config` prints it: one `key = value  (ENV)` line
    /// per setting, then every librdkafka property the consumer gets, secrets redacted.
    package func rendered() -> String {
        var lines: [String] = []
        let width = ConfigurationKeys.all.map(\.path.count).max() ?? 0
        for key in ConfigurationKeys.all {
            let value = key.render(self).map { key.secret ? Self.redacted : Self.redactingUserInfo($0) } ?? "(unset)"
            lines.append("\(key.path.padding(width)) = \(value)    # \(key.env)")
        }
        lines.append("")
        lines.append("# librdkafka consumer properties (defaults, yours, then the ones the bridge enforces)")
        let effective = KafkaConsumerConfiguration(topics: kafka.topics, properties: kafkaProperties).effectiveProperties
        for (name, value) in effective.sorted(by: { $0.key < $1.key }) {
            lines.append("kafka.properties.\(name) = \(Self.isSecretProperty(name) ? Self.redacted : value)")
        }
        return lines.joined(separator: "\n")
    }

    static let redacted = "<redacted>"

    /// `https://user:pass@host/…` → `https://<redacted>@host/…`: credentials in URLs stay hidden.
    static func redactingUserInfo(_ value: String) -> String {
        guard let scheme = value.range(of: "://"), let at = value[scheme.upperBound...].firstIndex(of: "@"),
            !value[scheme.upperBound..<at].contains("/")
        else { return value }
        return value[..<scheme.upperBound] + redacted + value[at...]
    }

    /// librdkafka properties that carry credentials or private keys.
    static func isSecretProperty(_ name: String) -> Bool {
        let lowered = name.lowercased()
        return ["password", "secret", "token", "key.pem", "keystore", "sasl.oauthbearer.config", "ssl.key"].contains {
            lowered.contains($0)
        } && !lowered.hasSuffix(".location") || lowered == "ssl.key.password"
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}
