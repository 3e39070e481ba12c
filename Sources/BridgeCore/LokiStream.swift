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
        var out: [UInt8] = [UInt8(ascii: "{")]
        for (index, (name, value)) in labels.sorted(by: { $0.0 < $1.0 }).enumerated() {
            appendPair(name: name.utf8, value: value.utf8, separated: index > 0, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `name="value"` (after `, ` when `separated`) with the value escaped. The escaped
    /// characters are ASCII, so escaping UTF-8 bytes one by one is escaping the characters.
    package static func appendPair(
        name: some Collection<UInt8>, value: some Collection<UInt8>, separated: Bool, to out: inout [UInt8]
    ) {
        if separated { out.append(contentsOf: [UInt8(ascii: ","), UInt8(ascii: " ")]) }
        out.append(contentsOf: name)
        out.append(contentsOf: [UInt8(ascii: "="), UInt8(ascii: "\"")])
        for byte in value {
            switch byte {
            case UInt8(ascii: "\\"), UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), byte])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
