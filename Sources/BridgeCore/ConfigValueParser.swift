/// Parses the human-friendly values of the configuration: Go-style durations and byte sizes.
package enum ConfigValueParser {
    /// Parses a Go-style duration: `500ms`, `1s`, `1.5s`, `2m`, `1h30m`, `250us`, `0`.
    package static func duration(_ text: String) -> Duration? {
        let text = text.trimmed
        if text == "0" { return .zero }
        var total: Double = 0
        var rest = Substring(text)
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let numberPart = rest.prefix { $0.isNumber || $0 == "." }
            guard !numberPart.isEmpty, let number = Double(numberPart) else { return nil }
            rest = rest.dropFirst(numberPart.count)
            let unitPart = rest.prefix { $0.isLetter || $0 == "µ" }
            rest = rest.dropFirst(unitPart.count)
            let scale: Double
            switch unitPart {
            case "ns": scale = 1e-9
            case "us", "µs": scale = 1e-6
            case "ms": scale = 1e-3
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            default: return nil
            }
            total += number * scale
        }
        let nanos = (total * 1e9).rounded()
        // Anything beyond ~292 years does not fit a Duration's nanoseconds: refuse, never trap.
        guard nanos.isFinite, nanos < 9.2e18 else { return nil }
        return .nanoseconds(Int64(nanos))
    }

    /// Parses a byte size: `1048576`, `512KiB`, `1MiB`, `1MB`, `2GiB`, `64k` (binary and decimal units).
    package static func byteSize(_ text: String) -> Int? {
        let text = text.trimmed
        let numberPart = text.prefix { $0.isNumber || $0 == "." }
        guard !numberPart.isEmpty, let number = Double(numberPart) else { return nil }
        let unit = String(text.dropFirst(numberPart.count)).trimmed.lowercased()
        let scale: Double
        switch unit {
        case "", "b": scale = 1
        case "k", "kb": scale = 1e3
        case "ki", "kib": scale = 1024
        case "m", "mb": scale = 1e6
        case "mi", "mib": scale = 1_048_576
        case "g", "gb": scale = 1e9
        case "gi", "gib": scale = 1_073_741_824
        default: return nil
        }
        let value = number * scale
        guard value >= 0, value < 9e18 else { return nil }
        return Int(value)
    }

    /// Parses a boolean written as `true/false`, `yes/no`, `1/0`, `on/off`.
    package static func bool(_ text: String) -> Bool? {
        switch text.trimmed.lowercased() {
        case "true", "yes", "1", "on": return true
        case "false", "no", "0", "off": return false
        default: return nil
        }
    }
}
