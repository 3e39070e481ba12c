import ArgumentParser
import BridgeRuntime

extension KafkaLokiBridge {
    /// `check-config`: validate and print the effective configuration.
    struct CheckConfig: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check-config",
            abstract: "Validate the configuration and print the effective settings, secrets redacted.",
            discussion: """
                Exits 0 when the configuration is valid, 64 with a message naming the key and the \
                fix when it is not. Every librdkafka property is checked by librdkafka itself, so \
                typos in KAFKA_<NAME> variables are caught here, before a deployment.
                """)

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            do {
                let (configuration, notes) = try global.loadConfiguration()
                for note in notes { print("# note: \(note)") }
                print(configuration.rendered())
            } catch let error as ConfigurationError {
                throw ValidationError(error.description)
            }
        }
    }
}
