import Logging

/// `host:port` of the admin HTTP server (`[::1]:8080` for IPv6).
package struct HTTPAddress: Sendable, Equatable {
    /// Host or IP to bind.
    package var host: String
    /// TCP port.
    package var port: Int

    /// Parses `host:port`.
    package init(parsing text: String) throws(ConfigurationError) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else {
            throw ConfigurationError(key: "HTTP_ADDRESS (http.address)", problem: "'\(text)' is not host:port", fix: "use e.g. 0.0.0.0:8080")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.host = host.isEmpty ? "0.0.0.0" : host
        self.port = port
    }
}

/// Log level names accepted by `LOG_LEVEL` / `--log-level`.
package enum LogLevelName {
    /// The swift-log level for `name`, `nil` when unknown.
    package static func parse(_ name: String) -> Logger.Level? {
        switch name.lowercased() {
        case "warn": return .warning
        default: return Logger.Level(rawValue: name.lowercased())
        }
    }
}
