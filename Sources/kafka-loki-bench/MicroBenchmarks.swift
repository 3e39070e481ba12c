import BridgeCodecs
import BridgeCore
import Foundation

/// Per-line costs of the hot parts, single-threaded, on generated records: the figures that
/// explain the end-to-end numbers.
enum MicroBenchmarks {
    struct Figure {
        var name: String
        var nanosPerLine: Double
        var linesPerSecond: Double { 1e9 / nanosPerLine }
    }

    /// Runs `body` (which processes `lines` lines) repeatedly for at least `budget`; reports the
    /// best of three rounds (the least disturbed by the other processes on the box).
    static func measure(_ name: String, lines: Int, budget: Duration = .milliseconds(400), _ body: () throws -> Void) rethrows -> Figure {
        var best = Double.infinity
        for _ in 0..<3 {
            var rounds = 0
            let started = ContinuousClock.now
            repeat {
                try body()
                rounds += 1
            } while ContinuousClock.now - started < budget
            best = min(best, (ContinuousClock.now - started).seconds * 1e9 / Double(rounds * lines))
        }
        return Figure(name: name, nanosPerLine: best)
    }

    static func run(_ formats: [(BenchFormat, [BenchRecord])]) throws -> [Figure] {
        let decoder = RecordDecoder(options: .init(), decompressor: NativeDecompressor())
        let validator = EntryValidator(limits: EntryLimits())
        let now = Int64(Date().timeIntervalSince1970 * 1e9)
        var figures: [Figure] = []
        for (format, records) in formats where !records.isEmpty {
            let lines = records.reduce(0) { $0 + $1.lines }
            let kafka = records.enumerated().map { index, record in
                KafkaRecord(
                    topicPartition: TopicPartition(topic: "bench", partition: 0), offset: Int64(index),
                    key: nil, value: record.value, headers: record.headers(format))
            }
            // One memo for all rounds, as on the poll thread (the label sets repeat).
            var memo = LabelMemo()
            let decoded = try kafka.map { try decoder.decode($0, memo: &memo) }
            figures.append(try measure("decode \(format.rawValue) (incl. snappy/gzip/JSON parse)", lines: lines) {
                for record in kafka { _ = try decoder.decode(record, memo: &memo) }
            })
            // Cold: every record was decoded beforehand (tens of MB), so walking its entries
            // misses the cache; the bridge validates a record right after decoding it.
            figures.append(try measure("validate \(format.rawValue) (Loki limits, cold cache)", lines: lines) {
                for record in decoded {
                    _ = try validator.validate(record.content, bounds: record.entryBounds, now: now, memo: &memo)
                }
            })
            figures.append(try measure("decode + validate \(format.rawValue) (as on the poll thread)", lines: lines) {
                for record in kafka {
                    let decoded = try decoder.decode(record, memo: &memo)
                    _ = try validator.validate(decoded.content, bounds: decoded.entryBounds, now: now, memo: &memo)
                }
            })
            var batches: [PushBatch] = []
            var ticketSource = OffsetTracker()
            let partition = TopicPartition(topic: "bench", partition: 0)
            ticketSource.assign([partition])
            let tickets = decoded.indices.compactMap { ticketSource.register(partition, offset: Int64($0)) }
            figures.append(measure("regroup \(format.rawValue) (batcher, 1 MiB batches)", lines: lines) {
                var batcher = Batcher(maxBytes: 1 << 20, maxWait: .seconds(1))
                let clock = ContinuousClock.now
                batches.removeAll(keepingCapacity: true)
                for (record, ticket) in zip(decoded, tickets) {
                    batches += batcher.add(record, ticket: ticket, sourceBytes: record.encodedBytes, now: clock)
                }
                batches += batcher.drain()
            })
            figures.append(measure("push body \(format.rawValue) (received blocks joined / encode + snappy)", lines: lines) {
                for batch in batches { _ = PushBodyBuilder.snappyBody(for: batch, compress: Snappy.compress) }
            })
        }
        let protobuf = formats.first { $0.0 == .protobuf }?.1 ?? []
        let records = max(1, protobuf.count)
        let linesPerRecord = Double(protobuf.first?.lines ?? 100)
        let partitions = (0..<8).map { TopicPartition(topic: "bench", partition: Int32($0)) }
        var offsetFigure = measure("offset tracking (register + complete + commit, per record)", lines: records) {
            var tracker = OffsetTracker()
            tracker.assign(partitions)
            var tickets: [RecordTicket] = []
            tickets.reserveCapacity(records)
            for index in 0..<records {
                if let ticket = tracker.register(partitions[index % 8], offset: Int64(index / 8)) { tickets.append(ticket) }
            }
            for (index, ticket) in tickets.enumerated() {
                _ = tracker.complete(ticket)
                if index % 1000 == 0 { _ = tracker.commitCandidates() }
            }
            _ = tracker.commitCandidates()
        }
        // Per line: a record carries `linesPerRecord` lines.
        offsetFigure.nanosPerLine /= linesPerRecord
        offsetFigure.name += " / \(Int(linesPerRecord)) lines"
        figures.append(offsetFigure)
        return figures
    }

    /// The JSON transcoder on lines of each ``LogLineGenerator/Style``, with the SSSE3 block
    /// shuffle off and (where the CPU has it) on: the cost of line shapes the topics do not
    /// carry, non-ASCII text and stack traces, and whether the shuffle costs them anything.
    static func lineShapes(lines: Int, startNanos: Int64) throws -> [Figure] {
        var figures: [Figure] = []
        for style in LogLineGenerator.Style.allCases {
            var factory = PushRecordFactory(format: .json, shape: .init(), seed: 11, startNanos: startNanos, lineStyle: style)
            let records = (0..<max(1, lines / 100)).map { _ in factory.next() }
            let count = records.reduce(0) { $0 + $1.lines }
            let bytes = records.reduce(0) { $0 + $1.lineBytes }
            var labels = ByteMemo<[UInt8]>()
            // The lines must come out as they went in, or the figures measure something else.
            let transcoded = try records.reduce(0) { $0 + (try LokiJSONPushTranscoder.transcode($1.value, labels: &labels)).0.lineBytes }
            guard transcoded == bytes else {
                throw BenchError("\(style.rawValue) lines: \(transcoded) bytes transcoded, \(bytes) generated")
            }
            for shuffle in JSONStringScan.shuffleAvailable ? [false, true] : [false] {
                let name = "transcode json, \(style.rawValue) lines (\(bytes / count) B), shuffle \(shuffle ? "on" : "off")"
                figures.append(try measure(name, lines: count) {
                    for record in records {
                        _ = try LokiJSONPushTranscoder.transcode(record.value, labels: &labels, blockShuffle: shuffle)
                    }
                })
            }
        }
        return figures
    }
}
