/// A circuit breaker for one push target (Loki): closed, open or half-open.
///
/// A value-type state machine without clocks, locks or I/O: callers pass `now`, serialise the
/// calls (the runtime holds it in a lock) and act on what it returns. Every push asks
/// ``acquire(now:)`` first and reports its answer with ``record(_:permit:now:)``.
///
/// | state       | event                                        | next state                   | returns             |
/// |-------------|----------------------------------------------|------------------------------|---------------------|
/// | closed      | acquire                                      | closed                       | allowed (no probe)  |
/// | closed      | success or neutral                           | closed, failures = 0         | nil                 |
/// | closed      | failure, failures + 1 < failureThreshold     | closed, failures + 1         | nil                 |
/// | closed      | failure, failures + 1 = failureThreshold     | open until now + period(1)   | `.opened`           |
/// | open(until) | acquire, now < until                         | open                         | wait(until)         |
/// | open(until) | acquire, now ≥ until                         | half-open, one probe out     | probe, `.halfOpened`|
/// | open        | any record                                   | open                         | nil (ignored)       |
/// | half-open   | acquire, probes out < halfOpenProbes         | half-open, one more probe    | allowed (probe)     |
/// | half-open   | acquire, all probe slots taken               | half-open                    | wait(recheck)       |
/// | half-open   | probe success or neutral                     | closed, failures = 0         | `.closed`           |
/// | half-open   | probe failure                                | open until now + period(n+1) | `.reopened`         |
/// | half-open   | probe cancelled                              | half-open, slot freed        | nil                 |
/// | any         | record of a permit from an earlier epoch     | unchanged                    | nil (ignored)       |
///
/// The open period doubles with each opening since the circuit was last closed:
///
///     period(n) = min(maxOpenDuration, openDuration × 2^(n-1)),  n = 1, 2, …
///     recheck   = min(now + recheckInterval, earliest probe lease end)
///
/// With the defaults (threshold 5, 5 s, cap 60 s): open for 5 s, then 10 s, 20 s, 40 s, 60 s,
/// 60 s … while probes keep failing; a successful probe closes it and the next opening starts
/// again at 5 s.
///
/// **Outcomes.** `.failure` is a retriable failure (429, 5xx, timeout, connection error);
/// `.neutral` a permanent 4xx: Loki answered, so the target is up and it counts as a success;
/// `.cancelled` a request that ended without an answer (task cancelled, shutdown): it says nothing
/// about the target and only gives back a probe slot. ``Outcome/init(_:)`` maps a
/// ``PushDisposition``. Failures count consecutively across all lanes: any success resets the
/// count, so one tenant's 429s do not open the circuit while other tenants get through.
///
/// **Concurrent lanes.** Every permit carries the *epoch* it was issued in; the epoch advances
/// at every transition. Only outcomes of the current epoch move the machine:
/// - A request that started while closed and finishes while open or half-open is ignored,
///   whatever its answer: only a probe's success closes the circuit, and the circuit is already
///   open (a late failure does not lengthen the open period).
/// - After a probe closed the circuit, failures of requests that started before (during the
///   outage) are stale and ignored, so they cannot re-open it at once; only requests issued
///   after the close count towards the threshold.
/// - With `halfOpenProbes > 1`, the first probe to answer decides (success closes, failure
///   re-opens); the other probes of that half-open period are then stale.
/// - A probe that is neither recorded nor cancelled within `probeLease` is presumed lost and
///   its slot is handed to a new probe, so a lost permit cannot stall the circuit forever. Its
///   late answer still decides if the circuit is still in the same half-open period.
///
/// - Important: Not thread-safe by itself (a value type); serialise access, e.g. in a lock.
package struct CircuitBreaker: Sendable {
    /// Tuning of a ``CircuitBreaker``; the defaults suit a Loki write path.
    package struct Configuration: Sendable, Equatable {
        /// Consecutive retriable failures that open the circuit (values below 1 count as 1).
        package var failureThreshold: Int
        /// How long the circuit stays open the first time.
        package var openDuration: Duration
        /// Cap of the open period, which doubles each time a half-open probe fails.
        package var maxOpenDuration: Duration
        /// Probe requests allowed at once while half-open (values below 1 count as 1).
        package var halfOpenProbes: Int
        /// Time after which an unreported probe is presumed lost; keep it above the push timeout.
        package var probeLease: Duration
        /// How soon a request refused during half-open asks again (at least 1 ms).
        package var recheckInterval: Duration

        /// Creates a configuration; defaults as documented on ``CircuitBreaker``.
        package init(
            failureThreshold: Int = 5, openDuration: Duration = .seconds(5), maxOpenDuration: Duration = .seconds(60),
            halfOpenProbes: Int = 1, probeLease: Duration = .seconds(60), recheckInterval: Duration = .milliseconds(100)
        ) {
            self.failureThreshold = failureThreshold
            self.openDuration = openDuration
            self.maxOpenDuration = maxOpenDuration
            self.halfOpenProbes = halfOpenProbes
            self.probeLease = probeLease
            self.recheckInterval = recheckInterval
        }

        /// The open period of the `opening`-th opening since the last close (1-based):
        /// `min(maxOpenDuration, openDuration × 2^(opening-1))`.
        package func openPeriod(opening: Int) -> Duration {
            let cap = max(maxOpenDuration, openDuration)
            var period = openDuration
            var doublings = opening - 1
            while doublings > 0, period < cap {
                period = period * 2
                doublings -= 1
            }
            return min(period, cap)
        }
    }

    /// The state as reported to operators (`/ready`, a metric gauge).
    package enum State: Sendable, Hashable, CustomStringConvertible {
        /// Requests pass; failures are counted.
        case closed
        /// Requests wait until the open period ends.
        case open
        /// Only probe requests pass; their answer closes or re-opens the circuit.
        case halfOpen

        /// `closed`, `open` or `half-open`.
        package var description: String {
            switch self {
            case .closed: "closed"
            case .open: "open"
            case .halfOpen: "half-open"
            }
        }

        /// Gauge value: 0 closed, 1 half-open, 2 open.
        package var metricValue: Int {
            switch self {
            case .closed: 0
            case .halfOpen: 1
            case .open: 2
            }
        }
    }

    /// How a request that held a ``Permit`` ended.
    package enum Outcome: Sendable, Hashable {
        /// The target accepted the request (2xx).
        case success
        /// A retriable failure: 429, 5xx, timeout, connection or transport error.
        case failure
        /// The target answered but refused the data for good (permanent 4xx): it is up, so this
        /// counts as a success.
        case neutral
        /// The request ended without an answer (cancelled): says nothing about the target, only
        /// frees a probe slot.
        case cancelled

        /// Maps a push answer: accepted → success, retry → failure, permanent → neutral.
        package init(_ disposition: PushDisposition) {
            switch disposition {
            case .accepted: self = .success
            case .retry: self = .failure
            case .permanent: self = .neutral
            }
        }
    }

    /// Leave to send one request; hand it back with its outcome to ``record(_:permit:now:)``.
    package struct Permit: Sendable, Hashable {
        /// Whether this request is a half-open probe whose answer decides the circuit.
        package let isProbe: Bool
        /// The epoch the permit was issued in; outcomes of older epochs are ignored.
        package let epoch: UInt64
        /// Unique per breaker; identifies a probe's slot.
        let id: UInt64
    }

    /// The answer of ``acquire(now:)``.
    package enum Decision: Sendable, Hashable {
        /// Send the request now.
        case allowed(Permit)
        /// Do not send; ask again at `until`.
        case wait(until: ContinuousClock.Instant)
    }

    /// A change of state, returned once so the caller can log it and update a gauge.
    package enum Transition: Sendable, Hashable, CustomStringConvertible {
        /// closed → open after `failures` consecutive failures, for `duration`.
        case opened(failures: Int, duration: Duration)
        /// open → half-open: the open period ended and a probe goes out.
        case halfOpened
        /// half-open → open: a probe failed; open for the (doubled) `duration`.
        case reopened(duration: Duration)
        /// half-open → closed: a probe succeeded.
        case closed

        /// The state before the transition.
        package var from: State {
            switch self {
            case .opened: .closed
            case .halfOpened: .open
            case .reopened, .closed: .halfOpen
            }
        }

        /// The state after the transition.
        package var to: State {
            switch self {
            case .opened, .reopened: .open
            case .halfOpened: .halfOpen
            case .closed: .closed
            }
        }

        /// E.g. `closed → open after 5 consecutive failures, for 5.0 s`.
        package var description: String {
            switch self {
            case .opened(let failures, let duration):
                "closed → open after \(failures) consecutive failures, for \(Self.format(duration))"
            case .halfOpened: "open → half-open, probing"
            case .reopened(let duration): "half-open → open, probe failed, for \(Self.format(duration))"
            case .closed: "half-open → closed, probe succeeded"
            }
        }

        static func format(_ duration: Duration) -> String {
            let tenths = max(0, Int((duration / .milliseconds(100)).rounded()))
            return "\(tenths / 10).\(tenths % 10) s"
        }
    }

    private enum Phase: Sendable {
        case closed(failures: Int)
        case open(until: ContinuousClock.Instant)
        /// Probes out, by permit id, with the end of their lease.
        case halfOpen(probes: [UInt64: ContinuousClock.Instant])
    }

    /// The tuning this breaker runs with.
    package let configuration: Configuration
    private var phase = Phase.closed(failures: 0)
    private var epoch: UInt64 = 0
    private var nextPermitID: UInt64 = 0
    private var openings = 0

    /// Creates a closed breaker.
    package init(configuration: Configuration = .init()) {
        self.configuration = configuration
    }

    /// The current state.
    package var state: State {
        switch phase {
        case .closed: .closed
        case .open: .open
        case .halfOpen: .halfOpen
        }
    }

    /// When the open period ends, while open.
    package var openUntil: ContinuousClock.Instant? {
        if case .open(let until) = phase { return until }
        return nil
    }

    /// Consecutive failures counted while closed (0 otherwise).
    package var consecutiveFailures: Int {
        if case .closed(let failures) = phase { return failures }
        return 0
    }

    /// Openings since the circuit was last closed: the `n` of the open period formula.
    package var consecutiveOpenings: Int { openings }

    /// Probes out while half-open (0 otherwise), counting lapsed leases until the next acquire.
    package var probesInFlight: Int {
        if case .halfOpen(let probes) = phase { return probes.count }
        return 0
    }

    /// A one-line status for `/ready` and logs, e.g. `circuit open, next probe in 4.2 s`.
    package func description(now: ContinuousClock.Instant) -> String {
        switch phase {
        case .closed(let failures):
            failures == 0 ? "circuit closed" : "circuit closed, consecutive failures: \(failures)"
        case .open(let until):
            "circuit open, next probe in \(Transition.format(now < until ? until - now : .zero))"
        case .halfOpen(let probes):
            "circuit half-open, \(probes.count) probe\(probes.count == 1 ? "" : "s") in flight"
        }
    }

    /// Asks whether a request may be sent at `now`.
    ///
    /// Closed: allowed. Open before its end: wait until the end. Open at or after its end: turns
    /// half-open and allows a probe. Half-open: allows a probe while fewer than `halfOpenProbes`
    /// are out, else wait until `recheck` (see the type's documentation).
    ///
    /// - Parameter now: The current instant of the caller's `ContinuousClock`.
    /// - Returns: The decision, and the transition it caused (open → half-open), if any.
    package mutating func acquire(now: ContinuousClock.Instant) -> (decision: Decision, transition: Transition?) {
        switch phase {
        case .closed:
            return (.allowed(makePermit(isProbe: false)), nil)
        case .open(let until):
            guard now >= until else { return (.wait(until: until), nil) }
            epoch &+= 1
            return (acquireProbe(probes: [:], now: now), .halfOpened)
        case .halfOpen(let probes):
            return (acquireProbe(probes: probes, now: now), nil)
        }
    }

    /// Reports how a request that held `permit` ended.
    ///
    /// - Parameters:
    ///   - outcome: The request's outcome.
    ///   - permit: The permit ``acquire(now:)`` gave for it.
    ///   - now: The current instant of the caller's `ContinuousClock`.
    /// - Returns: The transition the outcome caused, if any.
    package mutating func record(_ outcome: Outcome, permit: Permit, now: ContinuousClock.Instant) -> Transition? {
        guard permit.epoch == epoch else { return nil }
        switch phase {
        case .closed(let failures):
            switch outcome {
            case .success, .neutral:
                phase = .closed(failures: 0)
            case .cancelled:
                break
            case .failure:
                guard failures + 1 >= max(1, configuration.failureThreshold) else {
                    phase = .closed(failures: failures + 1)
                    return nil
                }
                return .opened(failures: failures + 1, duration: open(now: now))
            }
            return nil
        case .open:
            return nil
        case .halfOpen(var probes):
            guard permit.isProbe else { return nil }
            switch outcome {
            case .success, .neutral:
                phase = .closed(failures: 0)
                openings = 0
                epoch &+= 1
                return .closed
            case .failure:
                return .reopened(duration: open(now: now))
            case .cancelled:
                probes[permit.id] = nil
                phase = .halfOpen(probes: probes)
                return nil
            }
        }
    }

    private mutating func open(now: ContinuousClock.Instant) -> Duration {
        openings += 1
        let period = configuration.openPeriod(opening: openings)
        phase = .open(until: now + period)
        epoch &+= 1
        return period
    }

    private mutating func acquireProbe(
        probes: [UInt64: ContinuousClock.Instant], now: ContinuousClock.Instant
    ) -> Decision {
        var live = probes.filter { $0.value > now }
        defer { phase = .halfOpen(probes: live) }
        if live.count < max(1, configuration.halfOpenProbes) {
            let permit = makePermit(isProbe: true)
            live[permit.id] = now + max(configuration.probeLease, .milliseconds(1))
            return .allowed(permit)
        }
        let recheck = now + max(configuration.recheckInterval, .milliseconds(1))
        return .wait(until: min(recheck, live.values.min() ?? recheck))
    }

    private mutating func makePermit(isProbe: Bool) -> Permit {
        nextPermitID &+= 1
        return Permit(isProbe: isProbe, epoch: epoch, id: nextPermitID)
    }
}
