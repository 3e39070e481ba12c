import BridgeCore
import Foundation
import KafkaInput
import Yams

/// Builds a ``BridgeConfiguration`` from defaults, an optional YAML file and the environment
/// (environment wins), refusing unknown keys and bad values with a message naming the key.
package enum ConfigurationLoader {
    /// Loads and validates the configuration.
    ///
    /// - Parameters:
    ///   - yaml: contents of the `--config` file, if one was given.
    ///   - environment: the process environment.
    /// - Returns: the configuration and notes worth logging (for example ignored variables).
    /// - Throws: ``ConfigurationError``.
    package static func load(
        yaml: String?, environment: [String: String]
    ) throws(ConfigurationError) -> (BridgeConfiguration, notes: [String]) {
        var config = BridgeConfiguration()
        var notes: [String] = []
        if let yaml { try applyYAML(yaml, to: &config) }
        let fromEnvironment = try applyEnvironment(environment, to: &config, notes: &notes)
        try config.validate()
        try validateKafkaProperties(config, fromEnvironment: fromEnvironment)
        return (config, notes)
    }

    // MARK: - YAML

    private static func applyYAML(_ text: String, to config: inout BridgeConfiguration) throws(ConfigurationError) {
        let document: Any?
        do {
            document = try Yams.load(yaml: text)
        } catch {
            throw ConfigurationError(key: "config file", problem: "not valid YAML: \(error)", fix: "correct the YAML syntax")
        }
        guard let document else { return }
        guard let root = document as? [String: Any] else {
            throw ConfigurationError(key: "config file", problem: "the top level is not a mapping", fix: "write `key: value` pairs")
        }
        var leaves: [(String, Any)] = []
        flatten(root, prefix: "", into: &leaves)
        let byPath = Dictionary(uniqueKeysWithValues: ConfigurationKeys.all.map { ($0.path, $0) })
        for (path, value) in leaves {
            if path.hasPrefix("kafka.properties.") {
                config.kafka.properties[String(path.dropFirst("kafka.properties.".count))] = scalarText(value)
                continue
            }
            guard let key = byPath[path] else {
                let known = ConfigurationKeys.all.map(\.path).joined(separator: ", ")
                throw ConfigurationError(
                    key: path, problem: "unknown key in the config file",
                    fix: "use one of: \(known), or kafka.properties.<librdkafka property>")
            }
            let text: String
            if let list = value as? [Any] {
                text = list.map(scalarText).joined(separator: ",")
            } else {
                text = scalarText(value)
            }
            if let problem = key.apply(&config, text) {
                throw ConfigurationError(key: path, problem: "'\(text)' is not valid", fix: problem)
            }
        }
    }

    /// Flattens nested mappings into dotted paths. `kafka.properties` keeps its keys whole
    /// because librdkafka property names contain dots themselves.
    private static func flatten(_ map: [String: Any], prefix: String, into leaves: inout [(String, Any)]) {
        for (key, value) in map.sorted(by: { $0.key < $1.key }) {
            let path = prefix.isEmpty ? key : "\(prefix).\(key)"
            if path == "kafka.properties", let properties = value as? [String: Any] {
                for (name, property) in properties.sorted(by: { $0.key < $1.key }) {
                    leaves.append(("kafka.properties.\(name)", property))
                }
            } else if let nested = value as? [String: Any] {
                flatten(nested, prefix: path, into: &leaves)
            } else {
                leaves.append((path, value))
            }
        }
    }

    private static func scalarText(_ value: Any) -> String {
        switch value {
        case let text as String: return text
        case let flag as Bool: return flag ? "true" : "false"
        case is NSNull: return ""
        default: return "\(value)"
        }
    }

    // MARK: - Environment

    /// Applies the environment; returns librdkafka property → the variable it came from.
    private static func applyEnvironment(
        _ environment: [String: String], to config: inout BridgeConfiguration, notes: inout [String]
    ) throws(ConfigurationError) -> [String: String] {
        var sources: [String: String] = [:]
        for key in ConfigurationKeys.all {
            guard let value = environment[key.env] else { continue }
            if let problem = key.apply(&config, value) {
                throw ConfigurationError(key: key.env, problem: "'\(value)' is not valid", fix: problem)
            }
        }
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) where name.hasPrefix("KAFKA_") {
            guard !ConfigurationKeys.reservedKafkaVariables.contains(name) else { continue }
            if isKubernetesServiceLink(name) {
                notes.append("ignored \(name): a Kubernetes service link variable, not a librdkafka property")
                continue
            }
            let property = name.dropFirst("KAFKA_".count).lowercased().replacingOccurrences(of: "_", with: ".")
            config.kafka.properties[property] = value
            sources[property] = name
        }
        return sources
    }

    /// Lets librdkafka check every pass-through property, one by one so the error names its source.
    private static func validateKafkaProperties(
        _ config: BridgeConfiguration, fromEnvironment: [String: String]
    ) throws(ConfigurationError) {
        for (property, value) in config.kafka.properties.sorted(by: { $0.key < $1.key }) {
            do {
                try RDKafkaPropertyValidator.validate([property: value])
            } catch {
                if let variable = fromEnvironment[property] {
                    throw ConfigurationError(
                        key: variable, problem: "maps to librdkafka property '\(property)', which librdkafka refuses: \(error.message)",
                        fix: "remove the variable or correct it (KAFKA_<NAME> maps to librdkafka property <name> lower-cased with _ → .); "
                            + "if Kubernetes injected it as a service link, set enableServiceLinks: false on the pod")
                }
                throw ConfigurationError(
                    key: "kafka.properties.\(property)", problem: "librdkafka refuses it: \(error.message)",
                    fix: "see librdkafka's CONFIGURATION.md for valid consumer properties")
            }
        }
    }

    /// Kubernetes injects `<SERVICE>_SERVICE_HOST`, `<SERVICE>_PORT_9092_TCP…` for every service
    /// in the namespace (enableServiceLinks); a service named `kafka` would otherwise turn into
    /// bogus librdkafka properties such as `port` and crash the bridge at start.
    static func isKubernetesServiceLink(_ name: String) -> Bool {
        if name == "KAFKA_PORT" || name.hasSuffix("_SERVICE_HOST") || name.contains("_SERVICE_PORT") { return true }
        // <SERVICE>_PORT_<number>_<TCP|UDP|SCTP>[_ADDR|_PORT|_PROTO]
        let parts = name.split(separator: "_")
        guard let portIndex = parts.firstIndex(of: "PORT"), portIndex + 2 < parts.count else { return false }
        return Int(parts[portIndex + 1]) != nil && ["TCP", "UDP", "SCTP"].contains(parts[portIndex + 2])
    }
}
