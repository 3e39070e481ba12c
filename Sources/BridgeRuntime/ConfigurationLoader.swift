import BridgeCore
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
        if config.kafka.groupInstanceID == nil, let pod = environment["POD_NAME"]?.trimmed, !pod.isEmpty {
            config.kafka.groupInstanceID = pod
            notes.append("static group membership: group.instance.id = POD_NAME (\(pod))")
        }
        try config.validate()
        try validateKafkaProperties(config, fromEnvironment: fromEnvironment)
        return (config, notes)
    }

    // MARK: - YAML

    private static func applyYAML(_ text: String, to config: inout BridgeConfiguration) throws(ConfigurationError) {
        let document: Node?
        do {
            document = try Yams.compose(yaml: text)
        } catch {
            throw ConfigurationError(key: "config file", problem: "not valid YAML: \(error)", fix: "correct the YAML syntax")
        }
        guard let document else { return }
        guard let root = document.mapping else {
            throw ConfigurationError(key: "config file", problem: "the top level is not a mapping", fix: "write `key: value` pairs")
        }
        var leaves: [(String, Node)] = []
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
            let text = value.sequence.map { $0.map(scalarText).joined(separator: ",") } ?? scalarText(value)
            if let problem = key.apply(&config, text) {
                throw ConfigurationError(key: path, problem: "'\(text)' is not valid", fix: problem)
            }
        }
    }

    /// Flattens nested mappings into dotted paths. `kafka.properties` keeps its keys whole
    /// because librdkafka property names contain dots themselves.
    private static func flatten(_ map: Node.Mapping, prefix: String, into leaves: inout [(String, Node)]) {
        for (keyNode, value) in map {
            let key = keyNode.string ?? "\(keyNode)"
            let path = prefix.isEmpty ? key : "\(prefix).\(key)"
            if path == "kafka.properties", let properties = value.mapping {
                for (name, property) in properties {
                    leaves.append(("kafka.properties.\(name.string ?? "\(name)")", property))
                }
            } else if let nested = value.mapping {
                flatten(nested, prefix: path, into: &leaves)
            } else {
                leaves.append((path, value))
            }
        }
    }

    /// The scalar exactly as written: `007` stays `007`, `yes` stays `yes` (the typed values
    /// YAML 1.1 resolution would give — 7, true — are not what a tenant or password means).
    private static func scalarText(_ node: Node) -> String {
        guard let scalar = node.scalar else { return "" }
        return node.null != nil && scalar.style == .plain ? "" : scalar.string
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
            if isKubernetesServiceLink(name, value: value) {
                notes.append("ignored \(name): a Kubernetes service link variable, not a librdkafka property")
                continue
            }
            let property = String(name.dropFirst("KAFKA_".count).lowercased().map { $0 == "_" ? "." : $0 })
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

    /// Kubernetes injects `<SERVICE>_SERVICE_HOST`, `<SERVICE>_PORT=tcp://…`,
    /// `<SERVICE>_PORT_9092_TCP…` for every service in the namespace (enableServiceLinks); a
    /// service named `kafka` or `kafka-…` would otherwise turn into bogus librdkafka properties
    /// such as `port` or `headless.port` and stop the bridge at start.
    static func isKubernetesServiceLink(_ name: String, value: String) -> Bool {
        if name.hasSuffix("_SERVICE_HOST") || name.contains("_SERVICE_PORT") { return true }
        let lowered = value.lowercased()
        if name.hasSuffix("_PORT"), ["tcp://", "udp://", "sctp://"].contains(where: { lowered.hasPrefix($0) }) {
            return true
        }
        // <SERVICE>_PORT_<number>_<TCP|UDP|SCTP>[_ADDR|_PORT|_PROTO]
        let parts = name.split(separator: "_")
        return parts.indices.dropLast(2).contains { index in
            parts[index] == "PORT" && Int(parts[index + 1]) != nil && ["TCP", "UDP", "SCTP"].contains(parts[index + 2])
        }
    }
}
