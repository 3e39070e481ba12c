import BridgeCore
import Testing

@Suite("OffsetTracker: the commit never passes an unfinished record")
struct OffsetTrackerTests {
    let p = Fixture.partition

    /// A tracker with `p` assigned and `offsets` registered (one piece each).
    func tracker(registering offsets: some Sequence<Int64>) -> (OffsetTracker, [Int64: RecordTicket]) {
        var tracker = OffsetTracker()
        tracker.assign([p])
        var tickets: [Int64: RecordTicket] = [:]
        for offset in offsets { tickets[offset] = tracker.register(p, offset: offset) }
        return (tracker, tickets)
    }

    @Test func inOrderCompletionAdvancesTheCommit() throws {
        var (tracker, tickets) = tracker(registering: 0..<5)
        #expect(tracker.committable(p) == nil)
        #expect(tracker.pendingCount(p) == 5)
        for offset in Int64(0)..<5 {
            applied(tracker.complete(try #require(tickets[offset])))
            #expect(tracker.committable(p) == offset + 1)
        }
        #expect(tracker.pendingCount(p) == 0)
        #expect(tracker.commitCandidates() == [p: 5])
    }

    @Test func outOfOrderCompletionWaitsForTheOldestRecord() throws {
        var (tracker, tickets) = tracker(registering: 0..<10)
        for offset in Int64(0)..<4 { tracker.complete(try #require(tickets[offset])) }
        for offset in Int64(5)..<10 {
            tracker.complete(try #require(tickets[offset]))
            #expect(tracker.committable(p) == 4, "offset 4 is unfinished")
        }
        #expect(tracker.commitCandidates() == [p: 4])
        #expect(tracker.pendingCount(p) == 1)
        tracker.complete(try #require(tickets[4]))
        #expect(tracker.committable(p) == 10)
    }

    @Test func nothingIsCommittableWhileTheFirstRecordIsUnfinished() throws {
        var (tracker, tickets) = tracker(registering: 0..<3)
        tracker.complete(try #require(tickets[1]))
        tracker.complete(try #require(tickets[2]))
        #expect(tracker.committable(p) == nil)
        #expect(tracker.commitCandidates().isEmpty)
    }

    @Test func multiPieceRecordIsDoneAfterEveryPiece() throws {
        var tracker = OffsetTracker()
        tracker.assign([p])
        let ticket = try required(tracker.register(p, offset: 7, pieces: 3))
        applied(tracker.complete(ticket))
        applied(tracker.complete(ticket))
        #expect(tracker.committable(p) == nil)
        #expect(tracker.pendingCount(p) == 1)
        applied(tracker.complete(ticket))
        #expect(tracker.committable(p) == 8)
        #expect(tracker.pendingCount(p) == 0)
        refused(tracker.complete(ticket), "a fourth completion of a done record is refused")
    }

    @Test func zeroPieceRecordIsDoneAtOnce() throws {
        var tracker = OffsetTracker()
        tracker.assign([p])
        _ = tracker.register(p, offset: 0, pieces: 0)
        #expect(tracker.committable(p) == 1)
        #expect(tracker.pendingCount(p) == 0)
        // Behind an unfinished record it does not move the commit by itself.
        let first = try required(tracker.register(p, offset: 1))
        _ = tracker.register(p, offset: 2, pieces: 0)
        #expect(tracker.committable(p) == 1)
        tracker.complete(first)
        #expect(tracker.committable(p) == 3)
    }

    @Test func gapsFromCompactionCommitPastTheLastRecord() throws {
        var (tracker, tickets) = tracker(registering: [10, 11, 15])
        tracker.complete(try #require(tickets[15]))
        tracker.complete(try #require(tickets[10]))
        #expect(tracker.committable(p) == 11)
        tracker.complete(try #require(tickets[11]))
        #expect(tracker.committable(p) == 16)
    }

    @Test func staleTicketsAfterRevokeAndReassignAreIgnored() throws {
        var (tracker, old) = tracker(registering: 0..<3)
        tracker.revoke(p)
        #expect(tracker.assigned.isEmpty)
        refused(tracker.complete(try #require(old[0])), "partition not assigned")
        tracker.assign([p])
        let fresh = try required(tracker.register(p, offset: 0))
        #expect(fresh.epoch != old[0]?.epoch)
        refused(tracker.complete(try #require(old[0])), "ticket of the previous assignment")
        #expect(tracker.committable(p) == nil)
        #expect(tracker.pendingCount(p) == 1)
        applied(tracker.complete(fresh))
        #expect(tracker.committable(p) == 1)
    }

    @Test func unknownAndDuplicateTicketsChangeNothing() throws {
        var (tracker, tickets) = tracker(registering: 0..<3)
        let zero = try #require(tickets[0])
        let unknownOffset = Fixture.ticket(42)
        let unknownPartition = Fixture.ticket(0, partition: Fixture.partition(9))
        #expect(unknownOffset.epoch == zero.epoch)
        refused(tracker.complete(unknownOffset))
        refused(tracker.complete(unknownPartition))
        applied(tracker.complete(zero))
        refused(tracker.complete(zero), "already done")
        #expect(tracker.committable(p) == 1)
        #expect(tracker.pendingCount(p) == 2)
        let two = try #require(tickets[2])
        applied(tracker.complete(two))
        refused(tracker.complete(two), "done, but above the head")
        #expect(tracker.pendingCount(p) == 1)
        #expect(tracker.committable(p) == 1)
    }

    /// A rewind below the last registered offset forgets entries at or above the new offset
    /// but keeps lower ones: a still-pending lower record must keep holding the commit back.
    @Test func rewindKeepsPendingRecordsBelowTheNewOffset() throws {
        var (tracker, tickets) = tracker(registering: 0..<10)
        // 0 and 2...9 done, 1 still pending (its tenant's lane is retrying).
        for offset in [0, 2, 3, 4, 5, 6, 7, 8, 9] { applied(tracker.complete(try #require(tickets[Int64(offset)]))) }
        #expect(tracker.committable(p) == 1)
        // The consumer rewinds to 5 (offset reset, truncation): 5...9 come again.
        let five = try required(tracker.register(p, offset: 5))
        #expect(tracker.pendingCount(p) == 2, "1 and the new 5")
        applied(tracker.complete(five))
        #expect(tracker.committable(p) == 1, "offset 1 is still not done: no commit may pass it")
        applied(tracker.complete(try #require(tickets[1])))
        #expect(tracker.committable(p) == 6)
        #expect(tracker.pendingCount(p) == 0)
    }

    /// Same offset, same record: a ticket from before the rewind completes the re-registered
    /// entry, and the commit never moves backwards.
    @Test func rewindIntoTheDonePrefixNeverMovesTheCommitBack() throws {
        var (tracker, tickets) = tracker(registering: 5..<8)
        for offset in 5..<8 { applied(tracker.complete(try #require(tickets[Int64(offset)]))) }
        #expect(tracker.committable(p) == 8)
        let six = try required(tracker.register(p, offset: 6))
        #expect(tracker.pendingCount(p) == 1)
        #expect(tracker.committable(p) == 8)
        let seven = try required(tracker.register(p, offset: 7))
        applied(tracker.complete(six))
        #expect(tracker.committable(p) == 8, "never backwards")
        applied(tracker.complete(seven))
        let eight = try required(tracker.register(p, offset: 8))
        #expect(tracker.committable(p) == 8)
        applied(tracker.complete(eight))
        #expect(tracker.committable(p) == 9)
        // Registering the same offset again is a rewind too; both tickets name the same record.
        let again = try required(tracker.register(p, offset: 9))
        let twice = try required(tracker.register(p, offset: 9))
        applied(tracker.complete(again))
        refused(tracker.complete(twice), "the record is done already")
        #expect(tracker.committable(p) == 10)
    }

    @Test func registerOnAnUnassignedPartitionReturnsNil() {
        var tracker = OffsetTracker()
        tracker.assign([p])
        #expect(tracker.register(Fixture.partition(1), offset: 0) == nil)
        #expect(tracker.totalPending == 0)
    }

    @Test func assignKeepsStateOfAlreadyTrackedPartitions() throws {
        var (tracker, tickets) = tracker(registering: 0..<2)
        tracker.assign([p, Fixture.partition(1)])
        applied(tracker.complete(try #require(tickets[0])))
        #expect(tracker.committable(p) == 1)
        #expect(Set(tracker.assigned) == [p, Fixture.partition(1)])
    }

    @Test func commitCandidatesExcludeWhatWasCommitted() throws {
        var tracker = OffsetTracker()
        let q = Fixture.partition(1)
        tracker.assign([p, q])
        let a = try required(tracker.register(p, offset: 0))
        _ = tracker.register(q, offset: 0)
        tracker.complete(a)
        #expect(tracker.commitCandidates() == [p: 1], "q has nothing done")
        tracker.markCommitted(p, offset: 1)
        #expect(tracker.committed(p) == 1)
        #expect(tracker.commitCandidates().isEmpty)
        let b = try required(tracker.register(p, offset: 1))
        tracker.complete(b)
        #expect(tracker.commitCandidates() == [p: 2])
        #expect(tracker.totalPending == 1)
    }

    struct Scenario: Sendable, CustomTestStringConvertible {
        var seed: UInt64
        var maxGap: Int64
        var maxPieces: Int
        var testDescription: String { "seed \(seed), gaps ≤ \(maxGap), pieces ≤ \(maxPieces)" }
    }

    /// Registers 5000 records, completes every piece in a seeded shuffled order, and after each
    /// completion compares with a reference model. The done prefix passes 1024 records, so the
    /// tracker's compaction runs in the middle of it.
    @Test(arguments: [
        Scenario(seed: 1, maxGap: 1, maxPieces: 1), Scenario(seed: 2, maxGap: 3, maxPieces: 1),
        Scenario(seed: 3, maxGap: 1, maxPieces: 3), Scenario(seed: 4, maxGap: 4, maxPieces: 3),
    ])
    func shuffledCompletionMatchesReferenceModel(_ scenario: Scenario) throws {
        var random = SplitMix64(seed: scenario.seed)
        var tracker = OffsetTracker()
        tracker.assign([p])
        var model = ReferenceModel()
        var work: [RecordTicket] = []
        var offset: Int64 = 1000
        for _ in 0..<5000 {
            offset += Int64.random(in: 1...scenario.maxGap, using: &random)
            let pieces = Int.random(in: 1...scenario.maxPieces, using: &random)
            let ticket = try required(tracker.register(p, offset: offset, pieces: pieces))
            model.register(offset, pieces: pieces)
            work += Array(repeating: ticket, count: pieces)
        }
        work.shuffle(using: &random)
        for ticket in work {
            applied(tracker.complete(ticket))
            model.complete(ticket.offset)
            guard tracker.committable(p) == model.committable, tracker.pendingCount(p) == model.pending else {
                let (actual, expected) = (tracker.committable(p), model.committable)
                Issue.record(
                    "diverged after completing \(ticket.offset): \(String(describing: actual)) vs \(String(describing: expected))"
                )
                return
            }
        }
        #expect(tracker.committable(p) == offset + 1)
    }

    /// Interleaves registrations and completions so the outstanding window stays small and the
    /// tracker compacts its done prefix many times.
    @Test(arguments: [UInt64(11), 12, 13])
    func interleavedRegistrationAndCompletionMatchesReferenceModel(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        var tracker = OffsetTracker()
        tracker.assign([p])
        var model = ReferenceModel()
        var outstanding: [RecordTicket] = []
        var offset: Int64 = 0
        for step in 0..<30_000 {
            if outstanding.isEmpty || Int.random(in: 0..<100, using: &random) < 45 {
                offset += Int64.random(in: 1...2, using: &random)
                let pieces = Int.random(in: 0...2, using: &random)
                let ticket = try required(tracker.register(p, offset: offset, pieces: pieces))
                model.register(offset, pieces: pieces)
                outstanding += Array(repeating: ticket, count: pieces)
            } else {
                let ticket = outstanding.remove(at: Int.random(in: 0..<outstanding.count, using: &random))
                applied(tracker.complete(ticket))
                model.complete(ticket.offset)
            }
            guard tracker.committable(p) == model.committable, tracker.pendingCount(p) == model.pending else {
                Issue.record("diverged at step \(step)")
                return
            }
        }
    }
}

/// The obvious, slow implementation of the invariant.
private struct ReferenceModel {
    private var offsets: [Int64] = []
    private var remaining: [Int64: Int] = [:]
    private var head = 0
    private(set) var committable: Int64?
    private(set) var pending = 0

    mutating func register(_ offset: Int64, pieces: Int) {
        offsets.append(offset)
        remaining[offset] = pieces
        if pieces > 0 { pending += 1 }
        advance()
    }

    mutating func complete(_ offset: Int64) {
        remaining[offset]! -= 1
        if remaining[offset] == 0 { pending -= 1 }
        advance()
    }

    private mutating func advance() {
        while head < offsets.count, remaining[offsets[head]] == 0 {
            committable = offsets[head] + 1
            head += 1
        }
    }
}
