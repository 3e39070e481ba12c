import BridgeCodecs
import Foundation
import BridgeCore
import BridgeRuntime
import MetricsTestKit
import Testing

@Suite("Pipeline: batches finishing in any order never commit past an unfinished record")
struct PipelineTests {
    let p = PipelineHarness.partition(0)
    let q = PipelineHarness.partition(1)

    func record(_ offset: Int64, _ tenant: String?, on partition: TopicPartition? = nil) -> KafkaRecord {
        PipelineHarness.record(partition ?? p, offset, tenant: tenant)
    }

    @Test(arguments: [["a", "b"], ["b", "a"]])
    func outOfOrderFinishAcrossTenants(order: [String]) throws {
        let harness = PipelineHarness()
        let pipeline = harness.pipeline
        pipeline.partitionsAssigned([p], committedOffsets: [:])
        pipeline.consume([record(0, "a"), record(1, "b"), record(2, "a"), record(3, "b")])
        #expect(pipeline.pendingRecords == 4)
        pipeline.flushAll()
        let work = pipeline.takeWork(limit: 4)
        #expect(work.map(\.tenant) == ["a", "b"])
        let batches = Dictionary(uniqueKeysWithValues: work.map { ($0.tenant!, $0) })
        #expect(batches["a"]?.tickets.map(\.offset) == [0, 2])
        #expect(batches["b"]?.tickets.map(\.offset) == [1, 3])

        pipeline.finish(try #require(batches[order[0]]), done: true)
        // a done: 0 done, 1 not → commit 1. b done: 0 not done → nothing.
        #expect(pipeline.commitCandidates() == (order[0] == "a" ? [p: 1] : [:]))
        #expect(pipeline.pendingRecords == 2)
        pipeline.finish(try #require(batches[order[1]]), done: true)
        #expect(pipeline.commitCandidates() == [p: 4])
        #expect(pipeline.pendingRecords == 0)
        pipeline.committed([p: 4], error: nil)
        #expect(pipeline.commitCandidates().isEmpty)
    }

    /// Many records over two partitions and three tenants, small batches, batches finishing in a
    /// seeded random order, optionally one in `failureOdds` failing (not done): after every
    /// finish, each partition's candidate equals the reference (one past the longest done prefix).
    @Test(arguments: [(UInt64(1), 0), (2, 0), (3, 0), (4, 40), (5, 40)])
    func randomFinishOrderMatchesReference(seed: UInt64, failureOdds: Int) throws {
        let size = PipelineHarness.pushRequest.count
        let harness = PipelineHarness { $0.batch.maxBytes = size * 3 }
        let pipeline = harness.pipeline
        var random = SplitMix64(seed: seed)
        pipeline.partitionsAssigned([p, q], committedOffsets: [:])
        let tenants: [String?] = ["a", "b", nil]
        var next: [TopicPartition: Int64] = [p: 0, q: 0]
        var done: [TopicPartition: Set<Int64>] = [p: [], q: []]
        var inFlight: [PushBatch] = []
        for round in 0..<60 {
            var records: [KafkaRecord] = []
            for _ in 0..<Int.random(in: 1...6, using: &random) {
                let partition = Bool.random(using: &random) ? p : q
                let tenant = tenants.randomElement(using: &random)!
                let offset = next[partition]!
                next[partition]! += 1
                if Int.random(in: 0..<10, using: &random) == 0 {
                    records.append(PipelineHarness.undecodable(partition, offset))
                    done[partition]!.insert(offset)
                } else {
                    records.append(PipelineHarness.record(partition, offset, tenant: tenant))
                }
            }
            pipeline.consume(records)
            if round % 5 == 4 { pipeline.flushAll() }
            inFlight += pipeline.takeWork(limit: 3)
            while !inFlight.isEmpty, Bool.random(using: &random) {
                let batch = inFlight.remove(at: Int.random(in: 0..<inFlight.count, using: &random))
                let succeeded = failureOdds == 0 || Int.random(in: 0..<failureOdds, using: &random) != 0
                pipeline.finish(batch, done: succeeded)
                if succeeded {
                    for ticket in batch.tickets { done[ticket.topicPartition]!.insert(ticket.offset) }
                }
                let candidates = pipeline.commitCandidates()
                for partition in [p, q] {
                    var prefix: Int64 = 0
                    while done[partition]!.contains(prefix) { prefix += 1 }
                    #expect(candidates[partition] == (prefix == 0 ? nil : prefix), "round \(round), \(partition)")
                }
                inFlight += pipeline.takeWork(limit: 3)
            }
        }
        // Deliver the rest: without failures everything consumed becomes committable.
        pipeline.flushAll()
        inFlight += pipeline.takeWork(limit: 3)
        while let batch = inFlight.popLast() {
            pipeline.finish(batch, done: true)
            inFlight += pipeline.takeWork(limit: 3)
        }
        if failureOdds == 0 {
            #expect(pipeline.commitCandidates() == next)
            #expect(pipeline.pendingRecords == 0)
        }
    }

    /// Batches that queue up behind a slow push are sent together (up to the size limit), in
    /// order, so throughput does not collapse to one batch-wait per Loki round trip.
    @Test func queuedBatchesOfATenantMergeUpToTheSizeLimit() throws {
        let pipeline = PipelineHarness().pipeline
        pipeline.partitionsAssigned([p], committedOffsets: [:])
        pipeline.consume([record(0, "a")])
        pipeline.flushAll()
        let inFlight = pipeline.takeWork(limit: 4)
        for offset in 1...3 {
            pipeline.consume([record(Int64(offset), "a")])
            pipeline.flushAll()
        }
        pipeline.finish(inFlight[0], done: true)
        let merged = pipeline.takeWork(limit: 4)
        #expect(merged.map { $0.tickets.map(\.offset) } == [[1, 2, 3]])
        let batch = try #require(merged.first)
        #expect(batch.segments.count == 3, "one forwarded block per record")
        let body = try Snappy.decompress(PushBodyBuilder.snappyBody(for: batch, compress: Snappy.compress), limit: 1 << 20)
        #expect(body == Array([[UInt8]](repeating: PipelineHarness.pushRequest, count: 3).joined()))
        pipeline.finish(merged[0], done: true)
        #expect(pipeline.commitCandidates() == [p: 4])
    }

    @Test func failedBatchFreesItsLaneButItsRecordsStayPending() throws {
        let pipeline = PipelineHarness().pipeline
        pipeline.partitionsAssigned([p], committedOffsets: [:])
        pipeline.consume([record(0, "a")])
        pipeline.flushAll()
        let first = pipeline.takeWork(limit: 4)
        #expect(first.map { $0.tickets.map(\.offset) } == [[0]])
        pipeline.consume([record(1, "a")])
        pipeline.flushAll()
        #expect(pipeline.takeWork(limit: 4).isEmpty, "one push per tenant at a time")
        pipeline.finish(first[0], done: false)
        let second = pipeline.takeWork(limit: 4)
        #expect(second.map { $0.tickets.map(\.offset) } == [[1]])
        pipeline.finish(second[0], done: true)
        #expect(pipeline.commitCandidates().isEmpty, "offset 0 was never delivered")
        #expect(pipeline.pendingRecords == 1)
    }

    @Test func undecodableRecordsAreDoneAtOnce() throws {
        let pipeline = PipelineHarness().pipeline
        pipeline.partitionsAssigned([p], committedOffsets: [:])
        let tombstone = KafkaRecord(topicPartition: p, offset: 1, value: nil)
        pipeline.consume([PipelineHarness.undecodable(p, 0), tombstone])
        #expect(pipeline.commitCandidates() == [p: 2])
        #expect(pipeline.pendingRecords == 0)
        pipeline.flushAll()
        #expect(pipeline.takeWork(limit: 4).isEmpty)

        pipeline.consume([record(2, "a"), PipelineHarness.undecodable(p, 3), record(4, "a")])
        #expect(pipeline.commitCandidates() == [p: 2], "the bad record waits behind offset 2")
        pipeline.flushAll()
        let work = pipeline.takeWork(limit: 4)
        #expect(work.map { $0.tickets.map(\.offset) } == [[2, 4]])
        pipeline.finish(work[0], done: true)
        #expect(pipeline.commitCandidates() == [p: 5])
    }

    @Test func consumedRecordsBytesAndEntriesAreCountedPerPartitionAndTopic() throws {
        let metrics = TestMetrics()
        let pipeline = PipelineHarness(metricsFactory: metrics).pipeline
        pipeline.partitionsAssigned([p, q], committedOffsets: [:])
        let records = [record(0, "a"), PipelineHarness.undecodable(p, 1), record(0, "b", on: q)]
        pipeline.consume([records[0]])
        pipeline.consume([records[1], records[2]])
        func counter(_ name: String, _ dimensions: [(String, String)]) throws -> Int64 {
            try metrics.expectCounter("kafka_loki_bridge_" + name, dimensions).totalValue
        }
        #expect(try counter("records_consumed_total", [("topic", p.topic), ("partition", "0")]) == 2)
        #expect(try counter("records_consumed_total", [("topic", q.topic), ("partition", "1")]) == 1)
        // Every record's bytes, decodable or not; entries only of the records that decoded.
        let bytes = records.reduce(0) { $0 + ($1.value?.count ?? 0) }
        #expect(try counter("record_bytes_consumed_total", [("topic", p.topic)]) == Int64(bytes))
        #expect(try counter("entries_consumed_total", [("topic", p.topic)]) == 2)
    }

    @Test func recordsOfUnassignedPartitionsAreDropped() {
        let pipeline = PipelineHarness().pipeline
        pipeline.partitionsAssigned([p], committedOffsets: [:])
        pipeline.consume([record(0, "a", on: q), PipelineHarness.undecodable(q, 1)])
        pipeline.flushAll()
        #expect(pipeline.pendingRecords == 0)
        #expect(pipeline.takeWork(limit: 4).isEmpty)
        #expect(pipeline.commitCandidates().isEmpty)
    }

    @Test func takeWorkHonoursTheLimitAndServesTheOldestBatchFirst() {
        let harness = PipelineHarness()
        let pipeline = harness.pipeline
        pipeline.partitionsAssigned([p], committedOffsets: [:])
        pipeline.consume([record(0, "c"), record(1, "a"), record(2, "b")])
        let before = harness.wakes.value
        pipeline.flushAll()
        #expect(harness.wakes.value > before, "flushing ready batches wakes the scheduler")
        let first = pipeline.takeWork(limit: 2)
        #expect(first.map(\.tenant) == ["c", "a"])
        #expect(pipeline.takeWork(limit: 2).isEmpty)
        pipeline.finish(first[1], done: true)
        #expect(pipeline.takeWork(limit: 2).map(\.tenant) == ["b"])
    }

    @Test func fullBatchesAreReadyWithoutAFlush() {
        let size = PipelineHarness.pushRequest.count
        let harness = PipelineHarness { $0.batch.maxBytes = size * 2 }
        let pipeline = harness.pipeline
        pipeline.partitionsAssigned([p], committedOffsets: [:])
        let before = harness.wakes.value
        pipeline.consume([record(0, "a"), record(1, "a"), record(2, "a")])
        #expect(harness.wakes.value == before + 1)
        #expect(pipeline.takeWork(limit: 4).map { $0.tickets.map(\.offset) } == [[0, 1]])
    }

    /// The tail of a backlog goes out when the consumer catches up, not after `batch.wait`, and
    /// every record of the backlog is pushed and committed exactly once.
    @Test func catchingUpPushesTheTailOfABacklogWithoutWaiting() {
        let size = PipelineHarness.pushRequest.count
        let harness = PipelineHarness {
            $0.batch.maxBytes = size * 2
            $0.batch.wait = .seconds(3600)
        }
        let pipeline = harness.pipeline
        pipeline.partitionsAssigned([p], committedOffsets: [:])
        pipeline.consume((0..<5).map { record($0, "a") })
        let full = pipeline.takeWork(limit: 4)
        #expect(full.map { $0.tickets.map(\.offset) } == [[0, 1]])
        pipeline.finish(full[0], done: true)
        let wakes = harness.wakes.value
        pipeline.caughtUp()
        #expect(harness.wakes.value == wakes + 1)
        var pushed: [Int64] = []
        while let batch = pipeline.takeWork(limit: 4).first {
            pushed += batch.tickets.map(\.offset)
            pipeline.finish(batch, done: true)
        }
        #expect(pushed == [2, 3, 4])
        #expect(pipeline.commitCandidates() == [p: 5])
        #expect(pipeline.pendingRecords == 0)
    }

    @Test func catchingUpLeavesATrickleToBatchWait() {
        let pipeline = PipelineHarness { $0.batch.wait = .seconds(3600) }.pipeline
        pipeline.partitionsAssigned([p], committedOffsets: [:])
        pipeline.consume([record(0, "a")])
        pipeline.caughtUp()
        #expect(pipeline.takeWork(limit: 4).isEmpty)
        #expect(pipeline.commitCandidates().isEmpty)
    }

    @Test func flushDueMovesBatchesOnlyOnceTheyWaitedBatchWait() throws {
        let pipeline = PipelineHarness { $0.batch.wait = .seconds(5) }.pipeline
        pipeline.partitionsAssigned([p], committedOffsets: [:])
        #expect(pipeline.nextFlushDeadline == nil)
        pipeline.consume([record(0, "a")])
        let deadline = try #require(pipeline.nextFlushDeadline)
        pipeline.flushDue(now: deadline - .milliseconds(1))
        #expect(pipeline.takeWork(limit: 4).isEmpty)
        pipeline.flushDue(now: deadline)
        #expect(pipeline.takeWork(limit: 4).count == 1)
        #expect(pipeline.nextFlushDeadline == nil)
    }

    /// The budget bounds memory: a record forwarded compressed holds its compressed bytes, not
    /// the size it decompresses to.
    @Test func forwardedRecordsCountTheirCompressedSizeAgainstTheBudget() throws {
        let now = Int64(Date().timeIntervalSince1970 * 1e9)
        var body: [UInt8] = []
        PushBodyBuilder.appendStreams(
            [LokiStream(labels: #"{app="x"}"#, entries: [LokiEntry(timestampNanos: now, line: String(repeating: "ab", count: 4000))])],
            to: &body)
        let compressed = Snappy.compress(body)
        try #require(compressed.count * 4 < body.count)
        let pipeline = PipelineHarness { $0.maxInFlightBytes = body.count }.pipeline
        pipeline.partitionsAssigned([p], committedOffsets: [:])
        let records = (0..<3).map { KafkaRecord(topicPartition: p, offset: Int64($0), value: compressed, headers: []) }
        pipeline.consume(records)
        #expect(!pipeline.intakeShouldPause(currentlyPaused: false), "3 compressed blocks fit in one uncompressed size")
        let overBudget = body.count / compressed.count + 1
        pipeline.consume((3..<overBudget).map { KafkaRecord(topicPartition: p, offset: Int64($0), value: compressed, headers: []) })
        #expect(pipeline.intakeShouldPause(currentlyPaused: false))
    }

    @Test func committedOffsetsFromAssignmentAreNotCandidatesAgain() throws {
        let pipeline = PipelineHarness().pipeline
        pipeline.partitionsAssigned([p], committedOffsets: [p: 5])
        #expect(pipeline.commitCandidates().isEmpty)
        pipeline.consume([record(5, "a"), record(6, "a")])
        pipeline.flushAll()
        pipeline.finish(try #require(pipeline.takeWork(limit: 1).first), done: true)
        #expect(pipeline.commitCandidates() == [p: 7])
    }

    /// Intake pauses above `memory.max_in_flight_bytes` and resumes only below three quarters of it.
    @Test func intakePausesOverTheMemoryBudgetWithHysteresis() throws {
        // Forwarded records hold their received (compressed) block, and that is what counts.
        let size = Snappy.compress(PipelineHarness.pushRequest).count
        let pipeline = PipelineHarness { $0.maxInFlightBytes = 2 * size + size / 4 }.pipeline
        pipeline.partitionsAssigned([p], committedOffsets: [:])
        pipeline.consume([record(0, "a"), record(1, "b")])
        #expect(!pipeline.intakeShouldPause(currentlyPaused: false))
        pipeline.consume([record(2, "c")])
        #expect(pipeline.intakeShouldPause(currentlyPaused: false))
        pipeline.flushAll()
        let work = pipeline.takeWork(limit: 3)
        try #require(work.count == 3)
        pipeline.finish(work[0], done: true)
        // 2 × size is under the budget but over ¾ of it.
        #expect(pipeline.intakeShouldPause(currentlyPaused: true))
        #expect(!pipeline.intakeShouldPause(currentlyPaused: false))
        pipeline.finish(work[1], done: true)
        #expect(!pipeline.intakeShouldPause(currentlyPaused: true))
    }

    /// When intake stops over the budget, open batches go to their lanes at once: nothing will
    /// come to fill them, and only their pushes can free the budget. Waiting out `batch.wait`
    /// would stall intake (many tenants' open batches can fill the budget on their own).
    @Test func openBatchesAreSealedWhenIntakeStops() throws {
        let size = Snappy.compress(PipelineHarness.pushRequest).count
        let harness = PipelineHarness {
            $0.maxInFlightBytes = 3 * size + size / 2
            $0.batch.wait = .seconds(3600)
        }
        let pipeline = harness.pipeline
        pipeline.partitionsAssigned([p], committedOffsets: [:])
        pipeline.consume([record(0, "a"), record(1, "b"), record(2, "c")])
        #expect(!pipeline.intakeShouldPause(currentlyPaused: false))
        #expect(pipeline.takeWork(limit: 8).isEmpty, "under the budget, batches wait for batch.wait")
        let wakesBefore = harness.wakes.value
        pipeline.consume([record(3, "a")])
        #expect(pipeline.intakeShouldPause(currentlyPaused: false))
        #expect(harness.wakes.value > wakesBefore, "the scheduler is woken for the sealed batches")
        let work = pipeline.takeWork(limit: 8)
        #expect(work.compactMap(\.tenant).sorted() == ["a", "b", "c"])
        #expect(work.flatMap { $0.tickets.map(\.offset) }.sorted() == [0, 1, 2, 3], "no record is left behind")
        for batch in work { pipeline.finish(batch, done: true) }
        #expect(pipeline.commitCandidates() == [p: 4])
        #expect(!pipeline.intakeShouldPause(currentlyPaused: true))
    }
}
