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
    @Option(help: "Sends of one encoded record while its timestamp is under a millisecond old.")
    var reuse: Int = 16

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
        // Encoding and snappy-compressing a record costs this producer about as much per line
        // as the bridge's whole protobuf path, and it shares the two cores with broker, bridge
        // and sink: at half the bridge's maximum rate it fell behind (425k of 614k lines/s
        // offered). So one encoded record is sent up to `reuse` times while its timestamp is
        // under a millisecond old: the measured latency is at most 1 ms too high, never too low.
        var current: (record: BenchRecord, stamped: ContinuousClock.Instant, sends: Int)?
        while produced + factory.shape.linesPerRecord <= total {
            let now = ContinuousClock.now
            let due = min(total, Int((now - started).seconds * Double(rate)))
            if produced + factory.shape.linesPerRecord > due {
                Thread.sleep(forTimeInterval: 0.002)
                continue
            }
            let stale = current.map { $0.sends >= max(1, reuse) || now - $0.stamped >= .milliseconds(1) } ?? true
            if stale { current = (factory.next(timestampNanos: Int64(Date().timeIntervalSince1970 * 1e9)), now, 0) }
            guard let (record, stamped, sends) = current else { continue }
            current = (record, stamped, sends + 1)
            produced += record.lines
            producer.produce(
                topic: topic, key: nil, value: record.value,
                headers: record.headers(.protobuf)
            ) { error in
                if error != nil { failures.withLockedValue { $0 += 1 } }
            }
        }
        // The loop's time says whether the offered rate was kept (a saturated box makes the
        // loop fall behind); the close waits for the broker's acknowledgements on top.
        let produceSeconds = (ContinuousClock.now - started).seconds
        producer.close(timeout: .seconds(30))
        let seconds = (ContinuousClock.now - started).seconds
        print(
            "{\"lines\": \(produced), \"seconds\": \(seconds), \"produce_seconds\": \(produceSeconds), "
                + "\"reuse\": \(max(1, reuse)), \"failed_records\": \(failures.withLockedValue { $0 })}")
    }
}
