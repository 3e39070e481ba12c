import BridgeCodecs
import BridgeCore
import BridgeRuntime
import Foundation
import Testing

/// Records whose content passes Loki's checks unchanged travel to Loki as the snappy blocks they
/// arrived in; every other record is re-encoded. Either way the body must hold exactly the
/// entries that are due: none lost, none twice, none that validation removed.
@Suite("Pipeline: forwarding received snappy blocks")
struct PipelineForwardingTests {
    let p = PipelineHarness.partition(0)
    let now = Int64(Date().timeIntervalSince1970 * 1e9)

    func request(_ lines: [(String, Int64)]) -> [UInt8] {
        var body: [UInt8] = []
        PushBodyBuilder.appendStreams(
            [LokiStream(labels: #"{app="fwd"}"#, entries: lines.map { LokiEntry(timestampNanos: $0.1, line: $0.0) })],
            to: &body)
        return body
    }

    func record(_ offset: Int64, _ body: [UInt8]) -> KafkaRecord {
        KafkaRecord(
            topicPartition: p, offset: offset, value: Snappy.compress(body),
            headers: [RecordHeader(key: "X-Scope-OrgID", value: Array("t".utf8))])
    }

    func pushedContent(_ batch: PushBatch) throws -> [UInt8] {
        try Snappy.decompress(PushBodyBuilder.snappyBody(for: batch, compress: Snappy.compress), limit: 1 << 30)
    }

    @Test func unchangedRecordsAreForwardedAsReceivedAndChangedOnesReEncoded() throws {
        let pipeline = PipelineHarness().pipeline
        pipeline.partitionsAssigned([p], committedOffsets: [:])
        let twoDaysAgo = now - 48 * 3600 * 1_000_000_000  // within Loki's default reject_old_samples_max_age (1 week)
        let ancient = now - 30 * 24 * 3600 * 1_000_000_000  // older than 1 week: refused by Loki
        let first = request([("first", now), ("second", twoDaysAgo)])
        let mixed = request([("too old", ancient), ("kept", now)])
        let last = request([("last", now)])
        let records = [record(0, first), record(1, mixed), record(2, last)]
        pipeline.consume(records)
        pipeline.flushAll()
        let batch = try #require(pipeline.takeWork(limit: 1).first)
        #expect(batch.tickets.map(\.offset) == [0, 1, 2])
        let kinds = batch.segments.map { segment -> String in
            switch segment {
            case .snappy(let block): block.bytes == records[0].value ? "block 0" : block.bytes == records[2].value ? "block 2" : "other block"
            case .protobuf: "protobuf"
            case .streams: "streams"
            }
        }
        #expect(kinds == ["block 0", "protobuf", "block 2"])
        #expect(try pushedContent(batch) == first + request([("kept", now)]) + last)
        #expect(batch.entryCount == 4)
    }

    /// A record larger than a batch is split at stream boundaries; no piece may carry the whole
    /// received block, or Loki would get its lines several times.
    @Test func piecesOfASplitRecordCarryOnlyTheirOwnStreams() throws {
        let pipeline = PipelineHarness { $0.batch.maxBytes = 1400 }.pipeline
        pipeline.partitionsAssigned([p], committedOffsets: [:])
        var body: [UInt8] = []
        let streams = ["a", "b", "c"].map { name in
            LokiStream(
                labels: "{app=\"\(name)\"}",
                entries: (0..<10).map { LokiEntry(timestampNanos: now + Int64($0), line: String(repeating: name, count: 100)) })
        }
        PushBodyBuilder.appendStreams(streams, to: &body)
        pipeline.consume([record(0, body)])
        pipeline.flushAll()
        var pushed: [UInt8] = []
        while let batch = pipeline.takeWork(limit: 1).first {
            pushed += try pushedContent(batch)
            pipeline.finish(batch, result: .delivered)
        }
        #expect(pushed == body)
        #expect(pipeline.commitCandidates() == [p: 1])
    }
}
