import ArgumentParser
import BridgeCore
import Dispatch
import Foundation
import KafkaInput
import Logging
import NIOConcurrencyHelpers

/// Options naming the generated records; `fill`, the ceilings and `micro` must agree on them to
/// see the same records.
struct RecordOptions: ParsableArguments {
    @Option(help: "Record format: protobuf (snappy PushRequest), json, or json-gzip (Content-Encoding: gzip).")
    var format: String = "protobuf"
    @Option(help: "Lines to generate.")
    var lines: Int = 5_000_000
    @Option(help: "Seed of the generator (same seed, same records).")
    var seed: UInt64 = 42
    @Option(help: "Timestamp of the first line, Unix nanoseconds (0 = now).")
    var startNanos: Int64 = 0
    @Option(help: "Tenants (X-Scope-OrgID values).")
    var tenants: Int = 4
    @Option(help: "Streams per tenant.")
    var streamsPerTenant: Int = 16
    @Option(help: """
        Compression of the Kafka batches: none, or snappy as the upstream producers set it \
        (Promtail's `compression: snappy`). `fill` produces with it; `codec-ceiling` then \
        snappy-decompresses each record before its codec work, as librdkafka does for the bridge.
        """)
    var kafkaCompression: String = "none"

    /// Whether the Kafka batches are snappy-compressed (``kafkaCompression``, validated).
    var snappyBatches: Bool {
        get throws {
            switch kafkaCompression {
            case "none": return false
            case "snappy": return true
            default: throw ValidationError("--kafka-compression: none or snappy")
            }
        }
    }

    var benchFormat: BenchFormat {
        get throws { guard let f = BenchFormat(rawValue: format) else { throw ValidationError("--format: protobuf, json or json-gzip") }; return f }
    }

    func factory() throws -> PushRecordFactory {
        let start = startNanos != 0 ? startNanos : Int64(Date().timeIntervalSince1970 * 1e9)
        return PushRecordFactory(
            format: try benchFormat,
            shape: .init(tenants: tenants, streamsPerTenant: streamsPerTenant), seed: seed, startNanos: start)
    }

    /// All records in memory (for the one-core ceiling and the micro-benchmarks).
    func records() throws -> [BenchRecord] {
        var factory = try factory()
        return (0..<(lines / factory.shape.linesPerRecord)).map { _ in factory.next() }
    }
}

/// Sums printed by `fill` and checked against the sink.
struct FillSummary: Encodable {
    var topic: String
    var format: String
    var records = 0
    var lines = 0
    var lineBytes = 0
    var valueBytes = 0
    var lineHashSum: UInt64 = 0
    var seconds = 0.0

    enum CodingKeys: String, CodingKey {
        case topic, format, records, lines, seconds
        case lineBytes = "line_bytes", valueBytes = "value_bytes", lineHashSum = "line_hash_sum"
    }
}

struct Fill: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pre-fill a topic with generated Loki push records; prints a JSON summary.")

    @Option(help: "Bootstrap brokers.") var brokers: String
    @Option(help: "Topic to fill.") var topic: String
    @OptionGroup var records: RecordOptions

    func run() throws {
        var factory = try records.factory()
        let format = try records.benchFormat
        var logger = Logger(label: "bench.fill")
        logger.logLevel = .warning
        let producer = try KafkaDeadLetterProducer(
            properties: [
                "bootstrap.servers": brokers, "linger.ms": "50", "batch.size": "1000000",
                "compression.type": try records.snappyBatches ? "snappy" : "none",
            ],
            logger: logger)
        // Bounded outstanding records, so librdkafka's queue never fills up.
        let window = DispatchSemaphore(value: 2000)
        let failures = NIOLockedValueBox<[String]>([])
        let acknowledged = NIOLockedValueBox(0)
        var summary = FillSummary(topic: topic, format: records.format)
        let started = ContinuousClock.now
        for _ in 0..<(records.lines / factory.shape.linesPerRecord) {
            let record = factory.next()
            summary.records += 1
            summary.lines += record.lines
            summary.lineBytes += record.lineBytes
            summary.valueBytes += record.value.count
            summary.lineHashSum &+= record.lineHashSum
            window.wait()
            // No key: librdkafka's consistent_random partitioner spreads the records over every
            // partition (keyed by tenant, 4 tenants would fill only 4 of them).
            producer.produce(
                topic: topic, key: nil, value: record.value,
                headers: record.headers(format)
            ) { error in
                if let error { failures.withLockedValue { $0.append(error.message) } } else { acknowledged.withLockedValue { $0 += 1 } }
                window.signal()
            }
        }
        producer.close(timeout: .seconds(120))
        summary.seconds = (ContinuousClock.now - started).seconds
        let failed = failures.withLockedValue { $0 }
        guard failed.isEmpty else { throw BenchError("\(failed.count) records not produced: \(failed[0])") }
        let acked = acknowledged.withLockedValue { $0 }
        guard acked == summary.records else { throw BenchError("only \(acked) of \(summary.records) records acknowledged") }
        let json = try JSONEncoder().encode(summary)
        print(String(decoding: json, as: UTF8.self))
    }
}
