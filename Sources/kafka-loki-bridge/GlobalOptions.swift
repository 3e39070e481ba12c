import ArgumentParser
import BridgeRuntime
import Foundation

/// Options shared by every subcommand.
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .shortAndLong,
        help: ArgumentHelp(
            "YAML configuration file. Environment variables override its values.", valueName: "path"))
    var config: String?

    @Option(help: ArgumentHelp("Log level (overrides LOG_LEVEL): trace, debug, info, notice, warning, error, critical."))
    var logLevel: String?

    /// Reads the file and environment into a validated configuration.
    func loadConfiguration(environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> (BridgeConfiguration, notes: [String])
    {
        var yaml: String?
        if let config {
            guard let data = FileManager.default.contents(atPath: config) else {
                throw ValidationError("cannot read the configuration file '\(config)'")
            }
            yaml = String(decoding: data, as: UTF8.self)
        }
        var environment = environment
        if let logLevel { environment["LOG_LEVEL"] = logLevel }
        return try ConfigurationLoader.load(yaml: yaml, environment: environment)
    }
}
