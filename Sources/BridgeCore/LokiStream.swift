/// A name/value pair of Loki structured metadata.
package struct LabelPair: Sendable, Equatable, Hashable {
    /// Metadata name.
    package var name: String
    /// Metadata value.
    package var value: String

    /// Creates a pair.
    package init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// One log entry of a Loki stream.
package struct LokiEntry: Sendable, Equatable {
    /// Timestamp in nanoseconds since the Unix epoch.
    package var timestampNanos: Int64
    /// The log line.
    package var line: String
    /// Structured metadata (Loki 3), passed through unchanged.
    package var structuredMetadata: [LabelPair]

    /// Creates an entry.
    package init(timestampNanos: Int64, line: String, structuredMetadata: [LabelPair] = []) {
        self.timestampNanos = timestampNanos
        self.line = line
        self.structuredMetadata = structuredMetadata
    }
}

/// A Loki stream: a label set in Loki's text form and its entries.
package struct LokiStream: Sendable, Equatable {
    /// Labels in Loki's text form, e.g. `{app="api", env="prod"}`.
    package var labels: String
    /// Entries in the order they were received.
    package var entries: [LokiEntry]

    /// Creates a stream.
    package init(labels: String, entries: [LokiEntry]) {
        self.labels = labels
        self.entries = entries
    }
}

/// Renders label maps in Loki's text form.
package enum LabelFormatter {
    /// Formats `labels` as `{a="1", b="2"}`, sorted by name (the order Loki itself uses), with
    /// values escaped like Go's `strconv.Quote` for the characters that matter (`\`, `"`, newline).
    package static func format(_ labels: [(String, String)]) -> String {
        let sorted = labels.sorted { $0.0 < $1.0 }
        var out = "{"
        for (index, (name, value)) in sorted.enumerated() {
            if index > 0 { out += ", " }
            out += name
            out += "=\""
            for scalar in value.unicodeScalars {
                switch scalar {
                case "\\": out += "\\\\"
                case "\"": out += "\\\""
                case "\n": out += "\\n"
                case "\t": out += "\\t"
                case "\r": out += "\\r"
                default: out.unicodeScalars.append(scalar)
                }
            }
            out += "\""
        }
        out += "}"
        return out
    }
}
