import ArgumentParser
import BridgeCore
import Foundation
import KafkaInput
import Logging
import NIOConcurrencyHelpers

/// Produces protobuf push records at a fixed line rate with "now" timestamps, so the sink's
/// latency histogram (arrival minus timestamp) is the end-to-end latency through Kafka and
/// the bridge.
struct ProduceRate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce-rate", abstract: "Produce lines at a fixed rate with current timestamps.")

    @Option(help: "Bootstrap brokers.") var brokers: String
    @Option(help: "Topic.") var topic: String
    @Option(help: "Lines per second.") var rate: Int
    @Option(help: "Seconds to run.") var duration: Double = 30
    @Option(help: "Tenants.") var tenants: Int = 4

    func run() throws {
        var logger = Logger(label: "bench.rate")
        logger.logLevel = .warning
        let producer = try KafkaDeadLetterProducer(
            properties: ["bootstrap.servers": brokers, "linger.ms": "5"], logger: logger)
        var factory = PushRecordFactory(
            format: .protobuf, shape: .init(tenants: tenants), seed: UInt64(rate), startNanos: 0)
        factory.usePool(of: 20_000)
        let failures = NIOLockedValueBox(0)
        let started = ContinuousClock.now
        var produced = 0
        let total = Int(Double(rate) * duration)
        while produced + factory.shape.linesPerRecord <= total {
            let due = min(total, Int((ContinuousClock.now - started).seconds * Double(rate)))
            if produced + factory.shape.linesPerRecord > due {
                Thread.sleep(forTimeInterval: 0.002)
                continue
            }
            let record = factory.next(timestampNanos: Int64(Date().timeIntervalSince1970 * 1e9))
            produced += record.lines
            producer.produce(
                topic: topic, key: nil, value: record.value,
                headers: record.headers(.protobuf)
            ) { error in
                if error != nil { failures.withLockedValue { $0 += 1 } }
            }
        }
        producer.close(timeout: .seconds(30))
        let seconds = (ContinuousClock.now - started).seconds
        print("{\"lines\": \(produced), \"seconds\": \(seconds), \"failed_records\": \(failures.withLockedValue { $0 })}")
    }
}
