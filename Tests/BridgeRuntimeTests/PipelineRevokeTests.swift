import BridgeCore
import BridgeRuntime
import Testing

@Suite("Pipeline: partition revocation")
struct PipelineRevokeTests {
    let p = PipelineHarness.partition(0)
    let q = PipelineHarness.partition(1)

    func record(_ offset: Int64, _ tenant: String?, on partition: TopicPartition? = nil) -> KafkaRecord {
        PipelineHarness.record(partition ?? p, offset, tenant: tenant)
    }

    /// Revoke flushes the open batch and blocks until it is finished, then hands back the offset
    /// past it. The batch only exists once the revoke flushed it, so the offset can only be in
    /// the result if the revoke waited.
    @Test func revokeWaitsForInFlightBatchesOfThePartition() throws {
        let harness = PipelineHarness { $0.kafka.revokeTimeout = .seconds(30) }
        let pipeline = harness.pipeline
        pipeline.partitionsAssigned([p, q], committedOffsets: [:])
        pipeline.consume([record(0, "a"), record(1, "a"), record(0, "b", on: q)])
        let before = harness.wakes.value
        let revoked = ThreadResult { pipeline.partitionsRevoked([self.p], lost: false) }
        try #require(harness.wakes.wait(past: before), "revoke did not flush")
        let work = pipeline.takeWork(limit: 4)
        #expect(work.map(\.tenant) == ["a", "b"])
        for batch in work { pipeline.finish(batch, done: true) }
        #expect(revoked.get() == [p: 2])
        #expect(pipeline.commitCandidates() == [q: 1], "p left the assignment")
        #expect(pipeline.pendingRecords == 0)
    }

    /// After the revoke timeout the partition is released with what is done; a batch of it that
    /// finishes later must not bring it back, nor count for the partition's next assignment.
    @Test func lateCompletionsDoNotResurrectARevokedPartition() throws {
        let pipeline = PipelineHarness { $0.kafka.revokeTimeout = .milliseconds(50) }.pipeline
        pipeline.partitionsAssigned([p], committedOffsets: [:])
        pipeline.consume([record(0, "a"), record(1, "b"), record(2, "a")])
        pipeline.flushAll()
        let work = pipeline.takeWork(limit: 4)
        try #require(work.map(\.tenant) == ["a", "b"])
        pipeline.finish(work[0], done: true)  // 0 and 2 done, 1 in flight
        #expect(pipeline.partitionsRevoked([p], lost: false) == [p: 1])
        #expect(pipeline.pendingRecords == 0)

        pipeline.finish(work[1], done: true)  // the old push of offset 1 completes late
        #expect(pipeline.commitCandidates().isEmpty)

        // Next owner: us again, from the committed offset; the redelivered records count afresh.
        pipeline.partitionsAssigned([p], committedOffsets: [p: 1])
        pipeline.finish(work[1], done: true)
        #expect(pipeline.commitCandidates().isEmpty)
        #expect(pipeline.pendingRecords == 0)
        pipeline.consume([record(1, "b"), record(2, "a")])
        pipeline.flushAll()
        let redelivered = pipeline.takeWork(limit: 4)
        #expect(redelivered.count == 2)
        #expect(pipeline.commitCandidates().isEmpty)
        for batch in redelivered { pipeline.finish(batch, done: true) }
        #expect(pipeline.commitCandidates() == [p: 3])
    }

    /// A batch whose records all belong to a revoked partition is no longer needed: its
    /// retries would only hold the tenant's lane and memory while the new owner redelivers.
    @Test func batchesOfRevokedPartitionsAreNoLongerNeeded() throws {
        let pipeline = PipelineHarness { $0.kafka.revokeTimeout = .milliseconds(20) }.pipeline
        pipeline.partitionsAssigned([p, q], committedOffsets: [:])
        pipeline.consume([record(0, "a"), record(0, "b", on: q)])
        pipeline.flushAll()
        let work = pipeline.takeWork(limit: 4)
        try #require(work.count == 2)
        #expect(work.allSatisfy { pipeline.isStillNeeded($0) })
        _ = pipeline.partitionsRevoked([p], lost: false)
        #expect(!pipeline.isStillNeeded(work[0]), "tenant a's batch holds only p@0")
        #expect(pipeline.isStillNeeded(work[1]), "q is still ours")
        pipeline.finish(work[1], done: true)
        #expect(!pipeline.isStillNeeded(work[1]), "done records need nothing")
    }

    @Test func lostPartitionsReturnNothingAndDoNotWait() throws {
        let pipeline = PipelineHarness { $0.kafka.revokeTimeout = .seconds(30) }.pipeline
        pipeline.partitionsAssigned([p, q], committedOffsets: [:])
        pipeline.consume([record(0, "a"), record(1, "b"), record(0, "a", on: q)])
        pipeline.flushAll()
        let work = pipeline.takeWork(limit: 4)
        try #require(work.count == 2)
        pipeline.finish(work[0], done: true)  // tenant a: p@0 and q@0
        #expect(pipeline.partitionsRevoked([p], lost: true).isEmpty)
        pipeline.finish(work[1], done: true)
        #expect(pipeline.commitCandidates() == [q: 1])
    }

    @Test func revokeDuringShutdownDoesNotWait() throws {
        let pipeline = PipelineHarness { $0.kafka.revokeTimeout = .seconds(30) }.pipeline
        pipeline.partitionsAssigned([p], committedOffsets: [:])
        pipeline.consume([record(0, "a"), record(1, "b")])
        pipeline.flushAll()
        let work = pipeline.takeWork(limit: 4)
        pipeline.finish(work[0], done: true)
        pipeline.beginShutdown()
        #expect(pipeline.partitionsRevoked([p], lost: false) == [p: 1])
    }

    @Test func revokeReturnsNothingAlreadyCommitted() throws {
        let pipeline = PipelineHarness().pipeline
        pipeline.partitionsAssigned([p], committedOffsets: [:])
        pipeline.consume([record(0, "a")])
        pipeline.flushAll()
        pipeline.finish(try #require(pipeline.takeWork(limit: 1).first), done: true)
        pipeline.committed([p: 1], error: nil)
        #expect(pipeline.partitionsRevoked([p], lost: false).isEmpty)
    }
}
