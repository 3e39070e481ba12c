import BridgeCore
import Testing

@Suite("Batcher: per-tenant batches bounded by size and age")
struct BatcherTests {
    let t0 = ContinuousClock.now

    func decoded(tenant: String? = nil, bytes: Int, entries: Int = 1, lines: Int = 0) -> DecodedRecord {
        DecodedRecord(
            tenant: tenant,
            content: .protobuf(Array(repeating: UInt8(bytes & 0x7F), count: bytes)),
            streamCount: 1,
            entryCount: entries,
            lineBytes: lines,
            encodedBytes: bytes
        )
    }

    func streams(tenant: String? = nil, _ label: String) -> DecodedRecord {
        let stream = LokiStream(labels: label, entries: [LokiEntry(timestampNanos: 1, line: "x")])
        return DecodedRecord(
            tenant: tenant,
            content: .streams([stream]),
            streamCount: 1,
            entryCount: 1,
            lineBytes: 1,
            encodedBytes: 10
        )
    }

    func ticket(_ offset: Int64) -> RecordTicket { Fixture.ticket(offset) }

    @Test func flushesWhenEncodedBytesReachMaxBytes() {
        var batcher = Batcher(maxBytes: 100, maxWait: .seconds(1))
        let first = batcher.add(decoded(bytes: 40), ticket: ticket(0), sourceBytes: 4, now: t0)
        let second = batcher.add(decoded(bytes: 40), ticket: ticket(1), sourceBytes: 4, now: t0)
        #expect(first.isEmpty && second.isEmpty)
        let ready = batcher.add(decoded(bytes: 20), ticket: ticket(2), sourceBytes: 4, now: t0)
        #expect(ready.count == 1)
        #expect(ready.first?.encodedBytes == 100)
        #expect(ready.first?.tickets.map(\.offset) == [0, 1, 2])
        #expect(batcher.isEmpty)
    }

    @Test func recordThatWouldOverflowSealsTheOpenBatchFirst() {
        var batcher = Batcher(maxBytes: 100, maxWait: .seconds(1))
        _ = batcher.add(decoded(bytes: 60), ticket: ticket(0), sourceBytes: 0, now: t0)
        let ready = batcher.add(decoded(bytes: 60), ticket: ticket(1), sourceBytes: 0, now: t0)
        #expect(ready.map(\.encodedBytes) == [60])
        #expect(ready.first?.tickets.map(\.offset) == [0])
        let rest = batcher.drain()
        #expect(rest.map(\.encodedBytes) == [60])
        #expect(rest.first?.tickets.map(\.offset) == [1])
        #expect(rest.first!.id > ready.first!.id)
    }

    @Test func oversizedRecordTravelsAlone() {
        var batcher = Batcher(maxBytes: 100, maxWait: .seconds(1))
        let alone = batcher.add(decoded(bytes: 150), ticket: ticket(0), sourceBytes: 0, now: t0)
        #expect(alone.map(\.encodedBytes) == [150])
        _ = batcher.add(decoded(bytes: 10), ticket: ticket(1), sourceBytes: 0, now: t0)
        let both = batcher.add(decoded(bytes: 150), ticket: ticket(2), sourceBytes: 0, now: t0)
        #expect(both.map(\.encodedBytes) == [10, 150], "the small batch is sealed first, in order")
        #expect(batcher.isEmpty)
    }

    @Test func dueAfterMaxWaitMeasuredFromTheFirstRecord() {
        var batcher = Batcher(maxBytes: 1 << 20, maxWait: .seconds(1))
        _ = batcher.add(decoded(tenant: "a", bytes: 10), ticket: ticket(0), sourceBytes: 0, now: t0)
        _ = batcher.add(
            decoded(tenant: "b", bytes: 10),
            ticket: ticket(1),
            sourceBytes: 0,
            now: t0 + .milliseconds(500)
        )
        _ = batcher.add(
            decoded(tenant: "a", bytes: 10),
            ticket: ticket(2),
            sourceBytes: 0,
            now: t0 + .milliseconds(900)
        )
        #expect(batcher.nextDeadline == t0 + .seconds(1))
        let early = batcher.due(now: t0 + .milliseconds(999))
        #expect(early.isEmpty)
        let first = batcher.due(now: t0 + .seconds(1))
        #expect(first.map(\.tenant) == ["a"])
        #expect(first.first?.tickets.map(\.offset) == [0, 2])
        #expect(first.first?.createdAt == t0)
        #expect(batcher.nextDeadline == t0 + .milliseconds(1500))
        let notYet = batcher.due(now: t0 + .milliseconds(1499))
        #expect(notYet.isEmpty)
        let second = batcher.due(now: t0 + .seconds(5))
        #expect(second.map(\.tenant) == ["b"])
        #expect(batcher.nextDeadline == nil)
    }

    @Test func dueReturnsSeveralBatchesInIDOrder() {
        var batcher = Batcher(maxBytes: 1 << 20, maxWait: .seconds(1))
        for (offset, tenant) in ["z", "m", "a"].enumerated() {
            _ = batcher.add(decoded(tenant: tenant, bytes: 1), ticket: ticket(Int64(offset)), sourceBytes: 0, now: t0)
        }
        let due = batcher.due(now: t0 + .seconds(2))
        #expect(due.map(\.tenant) == ["z", "m", "a"])
    }

    @Test func tenantsAreBatchedSeparatelyAndNilIsItsOwnTenant() {
        var batcher = Batcher(maxBytes: 1 << 20, maxWait: .seconds(1))
        _ = batcher.add(decoded(tenant: nil, bytes: 1), ticket: ticket(0), sourceBytes: 0, now: t0)
        _ = batcher.add(decoded(tenant: "a", bytes: 1), ticket: ticket(1), sourceBytes: 0, now: t0)
        _ = batcher.add(decoded(tenant: nil, bytes: 1), ticket: ticket(2), sourceBytes: 0, now: t0)
        _ = batcher.add(decoded(tenant: "", bytes: 1), ticket: ticket(3), sourceBytes: 0, now: t0)
        let batches = batcher.drain()
        #expect(batches.map(\.tenant) == [nil, "a", ""])
        #expect(batches.map { $0.tickets.map(\.offset) } == [[0, 2], [1], [3]])
    }

    @Test func caughtUpSealsTheTailOfTenantsThatFilledABatchOnly() {
        var batcher = Batcher(maxBytes: 100, maxWait: .seconds(1))
        _ = batcher.add(decoded(tenant: "busy", bytes: 60), ticket: ticket(0), sourceBytes: 0, now: t0)
        let full = batcher.add(decoded(tenant: "busy", bytes: 60), ticket: ticket(1), sourceBytes: 0, now: t0)
        #expect(full.map { $0.tickets.map(\.offset) } == [[0]])
        _ = batcher.add(decoded(tenant: "trickle", bytes: 10), ticket: ticket(2), sourceBytes: 0, now: t0)
        let tails = batcher.caughtUp()
        #expect(tails.map(\.tenant) == ["busy"])
        #expect(tails.map { $0.tickets.map(\.offset) } == [[1]])
        // The trickle tenant keeps batching until maxWait.
        #expect(batcher.due(now: t0 + .milliseconds(999)).isEmpty)
        #expect(batcher.due(now: t0 + .seconds(1)).map(\.tenant) == ["trickle"])
    }

    @Test func caughtUpSealsNothingMoreUntilABatchFillsAgain() {
        var batcher = Batcher(maxBytes: 100, maxWait: .seconds(1))
        _ = batcher.add(decoded(tenant: "a", bytes: 100), ticket: ticket(0), sourceBytes: 0, now: t0)
        _ = batcher.add(decoded(tenant: "a", bytes: 10), ticket: ticket(1), sourceBytes: 0, now: t0)
        #expect(batcher.caughtUp().map { $0.tickets.map(\.offset) } == [[1]])
        _ = batcher.add(decoded(tenant: "a", bytes: 10), ticket: ticket(2), sourceBytes: 0, now: t0)
        #expect(batcher.caughtUp().isEmpty, "one catch-up per full batch: a slow topic keeps batching")
        _ = batcher.add(decoded(tenant: "a", bytes: 95), ticket: ticket(3), sourceBytes: 0, now: t0)
        #expect(batcher.caughtUp().map { $0.tickets.map(\.offset) } == [[3]])
        #expect(batcher.isEmpty)
    }

    @Test func intakeStoppedSealsEveryOpenBatchAndMarksTheirTailsAsBacklog() {
        var batcher = Batcher(maxBytes: 100, maxWait: .seconds(60))
        for (offset, tenant) in ["b", "a", "c"].enumerated() {
            _ = batcher.add(decoded(tenant: tenant, bytes: 10), ticket: ticket(Int64(offset)), sourceBytes: 0, now: t0)
        }
        let sealed = batcher.intakeStopped()
        #expect(sealed.map(\.tenant) == ["b", "a", "c"], "oldest first")
        #expect(sealed.map { $0.tickets.map(\.offset) } == [[0], [1], [2]])
        #expect(batcher.isEmpty)
        // After the stop, the end of the backlog: tails of those tenants go at once, a tenant
        // that was not part of it keeps batching.
        _ = batcher.add(decoded(tenant: "a", bytes: 10), ticket: ticket(3), sourceBytes: 0, now: t0)
        _ = batcher.add(decoded(tenant: "d", bytes: 10), ticket: ticket(4), sourceBytes: 0, now: t0)
        #expect(batcher.caughtUp().map { $0.tickets.map(\.offset) } == [[3]])
        #expect(batcher.due(now: t0 + .seconds(60)).map(\.tenant) == ["d"])
    }

    @Test func drainReturnsEverythingInIDOrder() {
        var batcher = Batcher(maxBytes: 1 << 20, maxWait: .seconds(1))
        let tenants = ["t5", "t1", "t9", "t3", "t7", "t2"]
        for (offset, tenant) in tenants.enumerated() {
            _ = batcher.add(decoded(tenant: tenant, bytes: 1), ticket: ticket(Int64(offset)), sourceBytes: 0, now: t0)
        }
        let batches = batcher.drain()
        #expect(batches.map(\.tenant) == tenants)
        #expect(batches.map(\.id) == batches.map(\.id).sorted())
        #expect(batcher.isEmpty)
        let again = batcher.drain()
        #expect(again.isEmpty)
    }

    @Test func eachRecordIsItsOwnSegment() throws {
        var batcher = Batcher(maxBytes: 1 << 20, maxWait: .seconds(1))
        for (offset, bytes) in [[1, 2], [3], [4, 5]].enumerated() {
            let record = DecodedRecord(
                tenant: "a",
                content: .protobuf(bytes.map(UInt8.init)),
                streamCount: 1,
                entryCount: 1,
                lineBytes: 0,
                encodedBytes: bytes.count
            )
            _ = batcher.add(record, ticket: ticket(Int64(offset)), sourceBytes: 0, now: t0)
        }
        let batch = try required(batcher.drain().first)
        #expect(batch.segments.map(Segment.init) == [.protobuf([1, 2]), .protobuf([3]), .protobuf([4, 5])])
    }

    @Test func orderIsPreservedWhenJSONStreamsInterleave() throws {
        var batcher = Batcher(maxBytes: 1 << 20, maxWait: .seconds(1))
        let pb: (UInt8) -> DecodedRecord = {
            DecodedRecord(
                tenant: nil,
                content: .protobuf([$0]),
                streamCount: 1,
                entryCount: 1,
                lineBytes: 0,
                encodedBytes: 1
            )
        }
        let records = [pb(1), pb(2), streams("{a}"), streams("{b}"), pb(3), streams("{c}"), pb(4), pb(5)]
        for (offset, record) in records.enumerated() {
            _ = batcher.add(record, ticket: ticket(Int64(offset)), sourceBytes: 0, now: t0)
        }
        let batch = try required(batcher.drain().first)
        let stream: (String) -> [LokiStream] = {
            [LokiStream(labels: $0, entries: [LokiEntry(timestampNanos: 1, line: "x")])]
        }
        #expect(
            batch.segments.map(Segment.init) == [
                .protobuf([1]), .protobuf([2]), .streams(stream("{a}")), .streams(stream("{b}")), .protobuf([3]),
                .streams(stream("{c}")), .protobuf([4]), .protobuf([5]),
            ]
        )
    }

    /// A record that arrived as a snappy block of exactly its content is kept as that block (no
    /// copy, no re-compression later), in order with the uncompressed records around it.
    @Test func receivedSnappyBlocksBecomeTheirOwnSegments() throws {
        var batcher = Batcher(maxBytes: 1 << 20, maxWait: .seconds(1))
        let content: [UInt8] = [0x0A, 0x00]
        let block = try required(
            SnappyBlock(verified: LiteralSnappy.compress(content), uncompressedLength: content.count))
        var forwarded = decoded(bytes: content.count)
        forwarded.content = .protobuf(content)
        forwarded.compressed = block
        let records = [decoded(bytes: 1), decoded(bytes: 2), forwarded, forwarded, decoded(bytes: 3)]
        for (offset, record) in records.enumerated() {
            _ = batcher.add(record, ticket: ticket(Int64(offset)), sourceBytes: 0, now: t0)
        }
        let batch = try required(batcher.drain().first)
        #expect(
            batch.segments.map(Segment.init) == [
                .protobuf([1]), .protobuf([2, 2]), .snappy(block.bytes), .snappy(block.bytes), .protobuf([3, 3, 3]),
            ])
        #expect(batch.encodedBytes == 1 + 2 + 2 + 2 + 3)
        #expect(batch.tickets.count == records.count)
    }

    @Test func countsAndTicketsAccumulate() throws {
        var batcher = Batcher(maxBytes: 1 << 20, maxWait: .seconds(1))
        _ = batcher.add(decoded(bytes: 30, entries: 2, lines: 11), ticket: ticket(7), sourceBytes: 100, now: t0)
        _ = batcher.add(
            decoded(bytes: 20, entries: 5, lines: 13),
            ticket: ticket(8),
            sourceBytes: 50,
            now: t0 + .seconds(9)
        )
        let batch = try required(batcher.drain().first)
        #expect(batch.tickets == [ticket(7), ticket(8)])
        #expect(batch.encodedBytes == 50)
        #expect(batch.entryCount == 7)
        #expect(batch.lineBytes == 24)
        #expect(batch.sourceBytes == 150)
        #expect(batch.createdAt == t0)
        #expect(batch.offsetRanges == "logging-events/0@7-8")
    }

    @Test func newBatchAfterASealGetsANewIDAndAge() throws {
        var batcher = Batcher(maxBytes: 10, maxWait: .seconds(1))
        let sealed = try required(batcher.add(decoded(bytes: 10), ticket: ticket(0), sourceBytes: 0, now: t0).first)
        _ = batcher.add(decoded(bytes: 1), ticket: ticket(1), sourceBytes: 0, now: t0 + .seconds(3))
        let next = try required(batcher.drain().first)
        #expect(next.id > sealed.id)
        #expect(next.createdAt == t0 + .seconds(3))
        #expect(next.tickets.map(\.offset) == [1])
    }
}
