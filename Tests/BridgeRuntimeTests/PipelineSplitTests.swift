import BridgeCodecs
import BridgeCore
import BridgeRuntime
import Foundation
import Testing

@Suite("Pipeline: records larger than a batch")
struct PipelineSplitTests {
    let p = PipelineHarness.partition(0)

    /// A record of three streams, each about 1 KiB.
    func bigRecord(offset: Int64) -> KafkaRecord {
        let now = Int64(Date().timeIntervalSince1970 * 1e9)
        let streams = ["a", "b", "c"].map { name in
            LokiStream(
                labels: "{app=\"\(name)\"}",
                entries: (0..<10).map { LokiEntry(timestampNanos: now + Int64($0), line: String(repeating: name, count: 100)) })
        }
        var body: [UInt8] = []
        PushBodyBuilder.appendStreams(streams, to: &body)
        return KafkaRecord(
            topicPartition: p, offset: offset, value: Snappy.compress(body),
            headers: [RecordHeader(key: "X-Scope-OrgID", value: Array("t".utf8))])
    }

    /// The record is split into three pieces, pushed in three batches; its offset is committed
    /// only when the last piece is accepted, whatever the order.
    @Test func aSplitRecordIsDoneOnlyWhenEveryPieceIs() throws {
        let pipeline = PipelineHarness { $0.batch.maxBytes = 1400 }.pipeline
        pipeline.partitionsAssigned([p], committedOffsets: [:])
        pipeline.consume([bigRecord(offset: 0)])
        pipeline.flushAll()
        var batches: [PushBatch] = []
        while let batch = pipeline.takeWork(limit: 1).first {
            batches.append(batch)
            pipeline.finish(batch, result: .notDelivered)  // free the lane, keep the records pending
        }
        try #require(batches.count == 3, "one batch per ~1 KiB stream")
        #expect(batches.allSatisfy { $0.encodedBytes <= 1400 })
        #expect(batches.allSatisfy { $0.tickets.map(\.offset) == [0] })
        pipeline.finish(batches[2], result: .delivered)
        pipeline.finish(batches[0], result: .delivered)
        #expect(pipeline.commitCandidates().isEmpty, "one piece is still not in Loki")
        #expect(pipeline.pendingRecords == 1)
        pipeline.finish(batches[1], result: .delivered)
        #expect(pipeline.commitCandidates() == [p: 1])
    }
}
