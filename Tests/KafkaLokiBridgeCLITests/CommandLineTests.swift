import ArgumentParser
import BridgeRuntime
import Foundation
import Testing

@testable import kafka_loki_bridge

@Suite("kafka-loki-bridge command line")
struct CommandLineTests {
    @Test func runParsesConfigAndLogLevel() throws {
        let command = try KafkaLokiBridge.parseAsRoot(["run", "--config", "x.yaml", "--log-level", "debug"])
        let run = try #require(command as? KafkaLokiBridge.Run)
        #expect(run.global.config == "x.yaml")
        #expect(run.global.logLevel == "debug")
    }

    @Test func shortConfigOption() throws {
        let run = try #require(
            try KafkaLokiBridge.parseAsRoot(["run", "-c", "/etc/bridge.yaml"]) as? KafkaLokiBridge.Run
        )
        #expect(run.global.config == "/etc/bridge.yaml")
        #expect(run.global.logLevel == nil)
    }

    @Test func checkConfigParses() throws {
        let command = try KafkaLokiBridge.parseAsRoot(["check-config", "--config", "bridge.yaml"])
        let check = try #require(command as? KafkaLokiBridge.CheckConfig)
        #expect(check.global.config == "bridge.yaml")
    }

    @Test func runIsTheDefaultSubcommand() throws {
        #expect(try KafkaLokiBridge.parseAsRoot([]) is KafkaLokiBridge.Run)
        let command = try KafkaLokiBridge.parseAsRoot(["--log-level", "warning"])
        #expect((command as? KafkaLokiBridge.Run)?.global.logLevel == "warning")
    }

    @Test(arguments: [["--no-such-flag"], ["frobnicate"], ["run", "--config"]])
    func invalidArgumentsAreRejected(arguments: [String]) {
        #expect(throws: (any Error).self) { try KafkaLokiBridge.parseAsRoot(arguments) }
    }

    @Test func rootHelpListsTheSubcommands() {
        let help = KafkaLokiBridge.helpMessage()
        #expect(help.contains("check-config"))
        #expect(help.contains("run"))
        let subcommands = help.components(separatedBy: "SUBCOMMANDS:").last ?? ""
        #expect(subcommands.contains("run (default)"), "run is listed and marked as the default")
        #expect(subcommands.contains("check-config"))
    }

    @Test func subcommandHelpDescribesTheOptions() {
        let help = KafkaLokiBridge.helpMessage(for: KafkaLokiBridge.CheckConfig.self)
        #expect(help.contains("--config"))
        #expect(help.contains("--log-level"))
        #expect(help.contains("redacted"))
    }

    @Test func versionIsTheBridgeVersion() {
        #expect(KafkaLokiBridge.configuration.version == BridgeVersion.current)
    }

    @Test func logLevelOptionOverridesTheEnvironment() throws {
        let run = try #require(
            try KafkaLokiBridge.parseAsRoot(["run", "--log-level", "debug"]) as? KafkaLokiBridge.Run
        )
        let (configuration, _) = try run.global.loadConfiguration(environment: ["LOG_LEVEL": "error"])
        #expect(configuration.logLevel == "debug")
    }

    @Test func configFileIsReadAndTheEnvironmentWins() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("bridge-\(UUID().uuidString).yaml")
        try Data("kafka:\n  group_id: from-file\nbatch:\n  wait: 2s\n".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let run = try #require(try KafkaLokiBridge.parseAsRoot(["run", "--config", file.path]) as? KafkaLokiBridge.Run)
        let (configuration, _) = try run.global.loadConfiguration(environment: ["BATCH_WAIT": "5s"])
        #expect(configuration.kafka.groupID == "from-file")
        #expect(configuration.batch.wait == .seconds(5))
    }

    @Test func checkConfigRefusesABadFileWithExitCode64() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("bridge-\(UUID().uuidString).yaml")
        try Data("kafka:\n  brokres: localhost:9092\n".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let parsed = try KafkaLokiBridge.parseAsRoot(["check-config", "--config", file.path])
        let command = try #require(parsed as? KafkaLokiBridge.CheckConfig)
        do {
            try await command.run()
            Issue.record("check-config accepted an unknown key")
        } catch {
            #expect((error as? ValidationError)?.message.contains("kafka.brokres") == true, "\(error)")
            #expect(KafkaLokiBridge.exitCode(for: error).rawValue == 64)
        }
    }

    @Test func missingConfigFileIsAValidationError() throws {
        let run = try #require(
            try KafkaLokiBridge.parseAsRoot(["run", "--config", "/nonexistent/bridge.yaml"]) as? KafkaLokiBridge.Run
        )
        #expect {
            try run.global.loadConfiguration(environment: [:])
        } throws: { error in
            (error as? ValidationError)?.message.contains("/nonexistent/bridge.yaml") == true
        }
    }
}
