import BridgeCore
import Testing

/// A fixed origin; every instant in these tests is explicit, nothing sleeps.
private let origin = ContinuousClock.Instant.now

/// The instant `seconds` after ``origin``.
private func at(_ seconds: Double) -> ContinuousClock.Instant {
    origin + .milliseconds(Int((seconds * 1000).rounded()))
}

extension CircuitBreaker {
    /// The permit of an allowed acquire, or `nil` when told to wait.
    fileprivate mutating func takePermit(at now: ContinuousClock.Instant) -> Permit? {
        if case .allowed(let permit) = acquire(now: now).decision { return permit }
        return nil
    }

    /// Acquires `count` permits at `now`, all of which must be allowed.
    fileprivate mutating func permits(_ count: Int, at now: ContinuousClock.Instant) throws -> [Permit] {
        try (0..<count).map { _ in try required(takePermit(at: now)) }
    }

    /// Opens a closed breaker with `failureThreshold` fresh failures at `now`.
    fileprivate mutating func trip(at now: ContinuousClock.Instant) throws {
        var last: Transition?
        for permit in try permits(configuration.failureThreshold, at: now) {
            last = record(.failure, permit: permit, now: now)
        }
        #expect(last?.to == .open)
    }

    /// Waits out the open period and takes the probe.
    fileprivate mutating func probe() throws -> (permit: Permit, now: ContinuousClock.Instant) {
        let until = try #require(openUntil)
        let permit = try required(takePermit(at: until))
        #expect(permit.isProbe)
        return (permit, until)
    }
}

@Suite("CircuitBreaker")
struct CircuitBreakerTests {
    @Test func defaultsMatchTheDocumentation() {
        let configuration = CircuitBreaker.Configuration()
        #expect(configuration.failureThreshold == 5)
        #expect(configuration.openDuration == .seconds(5))
        #expect(configuration.maxOpenDuration == .seconds(60))
        #expect(configuration.halfOpenProbes == 1)
        #expect(configuration.probeLease == .seconds(60))
        #expect(configuration.recheckInterval == .milliseconds(100))
        let breaker = CircuitBreaker()
        #expect(breaker.state == .closed)
        #expect(breaker.openUntil == nil)
        #expect(breaker.description(now: origin) == "circuit closed")
    }

    @Test(arguments: [(1, 5), (2, 10), (3, 20), (4, 40), (5, 60), (6, 60), (1_000, 60), (0, 5)])
    func openPeriodDoublesAndIsCapped(opening: Int, seconds: Int) {
        #expect(CircuitBreaker.Configuration().openPeriod(opening: opening) == .seconds(seconds))
    }

    @Test func openPeriodCapBelowTheFirstPeriodKeepsTheFirst() {
        let configuration = CircuitBreaker.Configuration(openDuration: .seconds(10), maxOpenDuration: .seconds(3))
        #expect(configuration.openPeriod(opening: 1) == .seconds(10))
        #expect(configuration.openPeriod(opening: 4) == .seconds(10))
    }

    @Test func closedAllowsEveryRequestWithoutProbing() throws {
        var breaker = CircuitBreaker()
        let permits = try breaker.permits(20, at: at(0))
        #expect(permits.allSatisfy { !$0.isProbe })
        #expect(Set(permits).count == 20, "permits are distinct")
        #expect(breaker.state == .closed)
    }

    @Test(arguments: [1, 2, 5])
    func consecutiveFailuresAtTheThresholdOpen(threshold: Int) throws {
        var breaker = CircuitBreaker(configuration: .init(failureThreshold: threshold))
        let permits = try breaker.permits(threshold, at: at(0))
        for (index, permit) in permits.dropLast().enumerated() {
            #expect(breaker.record(.failure, permit: permit, now: at(1)) == nil)
            #expect(breaker.consecutiveFailures == index + 1)
        }
        let transition = breaker.record(.failure, permit: permits.last!, now: at(1))
        #expect(transition == .opened(failures: threshold, duration: .seconds(5)))
        #expect(transition?.from == .closed && transition?.to == .open)
        #expect(breaker.state == .open)
        #expect(breaker.openUntil == at(6))
        #expect(breaker.consecutiveOpenings == 1)
    }

    @Test(arguments: [CircuitBreaker.Outcome.success, .neutral])
    func successOrNeutralResetsTheCount(outcome: CircuitBreaker.Outcome) throws {
        var breaker = CircuitBreaker()
        let permits = try breaker.permits(10, at: at(0))
        for permit in permits[0..<4] { #expect(breaker.record(.failure, permit: permit, now: at(1)) == nil) }
        #expect(breaker.record(outcome, permit: permits[4], now: at(1)) == nil)
        #expect(breaker.consecutiveFailures == 0)
        for permit in permits[5..<9] { #expect(breaker.record(.failure, permit: permit, now: at(1)) == nil) }
        #expect(breaker.state == .closed, "4 + 4 failures split by a success never reach 5 in a row")
        #expect(breaker.record(.failure, permit: permits[9], now: at(1)) == .opened(failures: 5, duration: .seconds(5)))
    }

    @Test func cancelledNeitherCountsNorResets() throws {
        var breaker = CircuitBreaker(configuration: .init(failureThreshold: 2))
        let permits = try breaker.permits(3, at: at(0))
        #expect(breaker.record(.failure, permit: permits[0], now: at(1)) == nil)
        #expect(breaker.record(.cancelled, permit: permits[1], now: at(1)) == nil)
        #expect(breaker.consecutiveFailures == 1)
        #expect(breaker.record(.failure, permit: permits[2], now: at(1)) == .opened(failures: 2, duration: .seconds(5)))
    }

    @Test func openWaitsUntilItsEndThenLetsOneProbeThrough() throws {
        var breaker = CircuitBreaker()
        try breaker.trip(at: at(0))
        for now in [at(0), at(2.5), at(4.999)] {
            let (decision, transition) = breaker.acquire(now: now)
            #expect(decision == .wait(until: at(5)))
            #expect(transition == nil)
        }
        #expect(breaker.description(now: at(0.8)) == "circuit open, next probe in 4.2 s")

        let (decision, transition) = breaker.acquire(now: at(5))
        guard case .allowed(let probe) = decision else { Issue.record("expected a probe, got \(decision)"); return }
        #expect(probe.isProbe)
        #expect(transition == .halfOpened)
        #expect(transition?.from == .open && transition?.to == .halfOpen)
        #expect(breaker.state == .halfOpen)
        #expect(breaker.probesInFlight == 1)
        #expect(breaker.description(now: at(5)) == "circuit half-open, 1 probe in flight")
    }

    @Test func acquiringLateAfterTheOpenPeriodStillProbes() throws {
        var breaker = CircuitBreaker()
        try breaker.trip(at: at(0))
        let (decision, transition) = breaker.acquire(now: at(500))
        #expect(transition == .halfOpened)
        guard case .allowed(let probe) = decision else { Issue.record("expected a probe"); return }
        #expect(probe.isProbe)
    }

    @Test(arguments: [1, 2, 3])
    func halfOpenAllowsExactlyTheConfiguredProbes(probes: Int) throws {
        var breaker = CircuitBreaker(configuration: .init(halfOpenProbes: probes))
        try breaker.trip(at: at(0))
        let permits = try breaker.permits(probes, at: at(5))
        #expect(permits.allSatisfy { $0.isProbe })
        #expect(breaker.probesInFlight == probes)
        let (decision, transition) = breaker.acquire(now: at(5))
        #expect(decision == .wait(until: at(5.1)), "recheck after recheckInterval")
        #expect(transition == nil)
        #expect(breaker.acquire(now: at(6)).decision == .wait(until: at(6.1)))
    }

    @Test func probeFailuresReopenWithDoublingPeriodsUpToTheCap() throws {
        var breaker = CircuitBreaker()
        try breaker.trip(at: at(0))
        for expected in [10, 20, 40, 60, 60, 60] {
            let (probe, now) = try breaker.probe()
            let transition = breaker.record(.failure, permit: probe, now: now)
            #expect(transition == .reopened(duration: .seconds(expected)))
            #expect(transition?.from == .halfOpen && transition?.to == .open)
            #expect(breaker.openUntil == now + .seconds(expected))
            #expect(breaker.acquire(now: now).decision == .wait(until: now + .seconds(expected)))
        }
        #expect(breaker.consecutiveOpenings == 7)
    }

    @Test(arguments: [CircuitBreaker.Outcome.success, .neutral])
    func probeSuccessClosesAndResetsThePeriod(outcome: CircuitBreaker.Outcome) throws {
        var breaker = CircuitBreaker()
        try breaker.trip(at: at(0))
        var (probe, now) = try breaker.probe()
        #expect(breaker.record(.failure, permit: probe, now: now) == .reopened(duration: .seconds(10)))
        (probe, now) = try breaker.probe()
        let transition = breaker.record(outcome, permit: probe, now: now)
        #expect(transition == .closed)
        #expect(transition?.from == .halfOpen && transition?.to == .closed)
        #expect(breaker.state == .closed)
        #expect(breaker.consecutiveOpenings == 0)
        #expect(breaker.consecutiveFailures == 0)
        let afterClose = try required(breaker.takePermit(at: now))
        #expect(!afterClose.isProbe)

        try breaker.trip(at: now)
        #expect(breaker.openUntil == now + .seconds(5), "the next opening starts at the first period again")
    }

    @Test func cancelledProbeFreesItsSlotWithoutDeciding() throws {
        var breaker = CircuitBreaker()
        try breaker.trip(at: at(0))
        let (probe, now) = try breaker.probe()
        let refused = breaker.takePermit(at: now)
        #expect(refused == nil)
        #expect(breaker.record(.cancelled, permit: probe, now: now) == nil)
        #expect(breaker.state == .halfOpen)
        #expect(breaker.probesInFlight == 0)
        let next = try required(breaker.takePermit(at: now))
        #expect(next.isProbe)
        #expect(breaker.record(.success, permit: next, now: now) == .closed)
    }

    @Test func lostProbeLeaseLapsesAndRecheckNeverPassesIt() throws {
        var breaker = CircuitBreaker(configuration: .init(probeLease: .seconds(10)))
        try breaker.trip(at: at(0))
        let (lost, _) = try breaker.probe()  // at 5 s; its lease ends at 15 s
        #expect(breaker.acquire(now: at(6)).decision == .wait(until: at(6.1)))
        #expect(breaker.acquire(now: at(14.95)).decision == .wait(until: at(15)), "recheck capped by the lease end")
        let replacement = try required(breaker.takePermit(at: at(15)))
        #expect(replacement.isProbe)
        #expect(breaker.probesInFlight == 1)
        // The lost probe's late answer still belongs to this half-open period and decides.
        #expect(breaker.record(.failure, permit: lost, now: at(16)) == .reopened(duration: .seconds(10)))
        #expect(breaker.record(.success, permit: replacement, now: at(16)) == nil, "stale after the re-open")
        #expect(breaker.state == .open)
    }

    @Test(arguments: [CircuitBreaker.Outcome.success, .neutral, .failure, .cancelled])
    func requestsFromBeforeTheOpeningAreIgnoredWhileOpenAndHalfOpen(outcome: CircuitBreaker.Outcome) throws {
        var breaker = CircuitBreaker(configuration: .init(failureThreshold: 1))
        let lanes = try breaker.permits(4, at: at(0))
        #expect(breaker.record(.failure, permit: lanes[0], now: at(1)) == .opened(failures: 1, duration: .seconds(5)))
        #expect(breaker.record(outcome, permit: lanes[1], now: at(2)) == nil)
        #expect(breaker.state == .open, "only a probe's success closes the circuit")
        #expect(breaker.openUntil == at(6), "a late failure does not lengthen the open period")

        let (probe, now) = try breaker.probe()
        #expect(breaker.record(outcome, permit: lanes[2], now: now) == nil)
        #expect(breaker.state == .halfOpen)
        #expect(breaker.probesInFlight == 1)
        #expect(breaker.record(.success, permit: probe, now: now) == .closed)
    }

    @Test func failuresOfRequestsFromBeforeTheCloseDoNotReopen() throws {
        var breaker = CircuitBreaker(configuration: .init(failureThreshold: 2))
        let lanes = try breaker.permits(6, at: at(0))
        _ = breaker.record(.failure, permit: lanes[0], now: at(1))
        #expect(breaker.record(.failure, permit: lanes[1], now: at(1)) == .opened(failures: 2, duration: .seconds(5)))
        let (probe, now) = try breaker.probe()
        #expect(breaker.record(.success, permit: probe, now: now) == .closed)

        for lane in lanes[2...] {
            #expect(breaker.record(.failure, permit: lane, now: now + .seconds(1)) == nil)
        }
        #expect(breaker.state == .closed)
        #expect(breaker.consecutiveFailures == 0, "stale failures are not counted")

        let fresh = try breaker.permits(2, at: now + .seconds(2))
        #expect(breaker.record(.failure, permit: fresh[0], now: now + .seconds(3)) == nil)
        let reopened = breaker.record(.failure, permit: fresh[1], now: now + .seconds(3))
        #expect(reopened == .opened(failures: 2, duration: .seconds(5)))
    }

    @Test(arguments: [CircuitBreaker.Outcome.success, .failure])
    func withSeveralProbesTheFirstAnswerDecides(first: CircuitBreaker.Outcome) throws {
        var breaker = CircuitBreaker(configuration: .init(halfOpenProbes: 2))
        try breaker.trip(at: at(0))
        let probes = try breaker.permits(2, at: at(5))
        let decided = breaker.record(first, permit: probes[0], now: at(6))
        #expect(decided == (first == .success ? .closed : .reopened(duration: .seconds(10))))
        let state = breaker.state
        for outcome in [CircuitBreaker.Outcome.success, .failure, .neutral] {
            #expect(breaker.record(outcome, permit: probes[1], now: at(6)) == nil)
        }
        #expect(breaker.state == state)
    }

    @Test(arguments: [
        (PushDisposition.accepted, CircuitBreaker.Outcome.success), (.retry, .failure), (.permanent, .neutral),
    ])
    func outcomeFromPushDisposition(disposition: PushDisposition, outcome: CircuitBreaker.Outcome) {
        #expect(CircuitBreaker.Outcome(disposition) == outcome)
    }

    @Test(arguments: [
        (CircuitBreaker.State.closed, "closed", 0), (.halfOpen, "half-open", 1), (.open, "open", 2),
    ])
    func stateReporting(state: CircuitBreaker.State, description: String, metricValue: Int) {
        #expect(state.description == description)
        #expect(state.metricValue == metricValue)
    }

    @Test(arguments: [
        (
            CircuitBreaker.Transition.opened(failures: 5, duration: .seconds(5)),
            "closed → open after 5 consecutive failures, for 5.0 s"
        ),
        (.halfOpened, "open → half-open, probing"),
        (.reopened(duration: .milliseconds(2_500)), "half-open → open, probe failed, for 2.5 s"),
        (.closed, "half-open → closed, probe succeeded"),
    ])
    func transitionDescriptions(transition: CircuitBreaker.Transition, description: String) {
        #expect(transition.description == description)
    }

    @Test func statusDescriptions() throws {
        var breaker = CircuitBreaker(configuration: .init(halfOpenProbes: 2))
        let permits = try breaker.permits(2, at: at(0))
        _ = breaker.record(.failure, permit: permits[0], now: at(0))
        #expect(breaker.description(now: at(0)) == "circuit closed, consecutive failures: 1")
        _ = breaker.record(.success, permit: permits[1], now: at(0))
        try breaker.trip(at: at(0))
        #expect(breaker.description(now: at(0)) == "circuit open, next probe in 5.0 s")
        #expect(breaker.description(now: at(9)) == "circuit open, next probe in 0.0 s")
        _ = try breaker.permits(2, at: at(5))
        #expect(breaker.description(now: at(5)) == "circuit half-open, 2 probes in flight")
    }
}
