import ArgumentParser
import Foundation

/// `kafka-loki-bench`: the parts of `make bench` that must be fast or must share code with the
/// bridge (record generation, the counting Loki stand-in, the two ceilings, micro-benchmarks).
/// testbed/bench.py runs them against the real broker and the release bridge.
@main
struct KafkaLokiBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka-loki-bench",
        abstract: "Benchmark tools for kafka-loki-bridge (driven by `make bench`).",
        subcommands: [Fill.self, Sink.self, ConsumeOnly.self, CodecCeiling.self, ProduceRate.self, Micro.self])
}

struct Sink: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A Loki stand-in that only counts and checks pushes (GET /stats for the totals).")
    @Option(help: "Listen host.") var host = "127.0.0.1"
    @Option(help: "Listen port.") var port: Int

    func run() async throws {
        try await CountingSink.run(host: host, port: port, stats: SinkStats())
    }
}

struct ConsumeOnly: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume-only", abstract: "Ceiling (a): read the topics with librdkafka and nothing else.")
    @Option(help: "Bootstrap brokers.") var brokers: String
    @Option(help: "Topics, comma separated.") var topics: String
    @Option(help: "Records to read (what fill produced).") var records: Int

    func run() throws {
        let result = try ConsumeOnlyCeiling.run(
            brokers: brokers, topics: topics.split(separator: ",").map(String.init), records: records)
        print("{\"records\": \(result.records), \"value_bytes\": \(result.valueBytes), \"seconds\": \(result.seconds), \"startup_seconds\": \(result.startupSeconds)}")
    }
}

struct CodecCeiling: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "codec-ceiling",
        abstract: "Ceiling (b): snappy-decompress and re-compress the same records on one core.")
    @OptionGroup var records: RecordOptions

    func run() throws {
        let generated = try records.records()
        let result = try SnappyCeiling.run(generated, format: try records.benchFormat, snappyBatches: try records.snappyBatches)
        print("{\"lines\": \(result.lines), \"uncompressed_bytes\": \(result.uncompressedBytes), \"seconds\": \(result.seconds), \"line_hash_sum\": \(generated.reduce(UInt64(0)) { $0 &+ $1.lineHashSum })}")
    }
}

struct Micro: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Micro-benchmarks of the hot parts, per line.")
    @Option(help: "Lines per format.") var lines = 200_000

    func run() throws {
        // Lines from a minute ago, as the bridge would meet them.
        let startNanos = Int64(Date().timeIntervalSince1970 * 1e9) - 60_000_000_000
        func generate(_ format: BenchFormat) -> [BenchRecord] {
            var factory = PushRecordFactory(format: format, shape: .init(), seed: 7, startNanos: startNanos)
            return (0..<(lines / 100)).map { _ in factory.next() }
        }
        let formats = BenchFormat.allCases.map { ($0, generate($0)) }
        let protobuf = formats.first { $0.0 == .protobuf }?.1 ?? []
        let lineBytes = Double(protobuf.reduce(0) { $0 + $1.lineBytes }) / Double(protobuf.reduce(0) { $0 + $1.lines })
        print("micro-benchmarks: \(lines) lines per format, \(Int(lineBytes)) bytes per line on average, best of 3 rounds")
        let shapes = try MicroBenchmarks.lineShapes(lines: lines, startNanos: startNanos)
        for figure in try MicroBenchmarks.run(formats) + shapes {
            let rate = figure.linesPerSecond >= 1e6 ? String(format: "%.1fM", figure.linesPerSecond / 1e6) : String(format: "%.0fk", figure.linesPerSecond / 1e3)
            let name = figure.name.padding(toLength: 72, withPad: " ", startingAt: 0)
            print("  \(name) \(String(format: "%8.1f", figure.nanosPerLine)) ns/line  \(rate) lines/s")
        }
    }
}
