import BridgeCore
import NIOConcurrencyHelpers

/// The circuit breaker in front of Loki's push endpoint, shared by all push lanes.
///
/// A lock around a ``CircuitBreaker`` plus the clock: every push attempt calls ``acquire()``
/// (which suspends while the circuit is open, or half-open with its probe out) and reports the
/// answer with ``record(_:ticket:)``. Semantics for concurrent lanes are documented on
/// ``CircuitBreaker``.
///
/// - Important: Every ticket must be recorded exactly once, with `.cancelled` when the push
///   ended without an answer; a lost probe ticket blocks the other lanes until its lease
///   (`probeLease`) runs out.
package final class LokiCircuit: Sendable {
    /// Leave to send one push; hand it back to ``record(_:ticket:)``.
    package typealias Ticket = CircuitBreaker.Permit

    private let breaker: NIOLockedValueBox<CircuitBreaker>
    private let onTransition: @Sendable (CircuitBreaker.Transition) -> Void

    /// Creates a closed circuit.
    ///
    /// - Parameters:
    ///   - configuration: Threshold, open periods and probes.
    ///   - onTransition: Called for every state change, in order (log it, set a gauge).
    /// - Important: `onTransition` runs under the circuit's lock: keep it short and do not call
    ///   back into this circuit from it.
    package init(
        configuration: CircuitBreaker.Configuration = .init(),
        onTransition: @escaping @Sendable (CircuitBreaker.Transition) -> Void = { _ in }
    ) {
        self.breaker = NIOLockedValueBox(CircuitBreaker(configuration: configuration))
        self.onTransition = onTransition
    }

    /// Waits until a push may be sent and returns its ticket.
    ///
    /// Returns at once while closed. While open it sleeps until the open period ends; then the
    /// first caller gets the probe ticket and the others wait for the probe's answer.
    ///
    /// - Throws: `CancellationError` when the task is cancelled while it has to wait (never
    ///   while the circuit is closed).
    package func acquire() async throws -> Ticket {
        while true {
            let decision = breaker.withLockedValue { breaker in
                let (decision, transition) = breaker.acquire(now: .now)
                if let transition { onTransition(transition) }
                return decision
            }
            switch decision {
            case .allowed(let ticket):
                return ticket
            case .wait(let until):
                try await Task.sleep(until: until, clock: .continuous)
            }
        }
    }

    /// Reports how the push that held `ticket` ended.
    ///
    /// - Parameters:
    ///   - outcome: `.success` (2xx), `.failure` (retriable), `.neutral` (permanent 4xx) or
    ///     `.cancelled` (no answer); ``CircuitBreaker/Outcome/init(_:)`` maps a `PushDisposition`.
    ///   - ticket: The ticket ``acquire()`` returned for this push.
    package func record(_ outcome: CircuitBreaker.Outcome, ticket: Ticket) {
        breaker.withLockedValue { breaker in
            if let transition = breaker.record(outcome, permit: ticket, now: .now) { onTransition(transition) }
        }
    }

    /// The current state.
    package var state: CircuitBreaker.State { breaker.withLockedValue { $0.state } }

    /// Whether pushes are held back: open, or half-open (only probes pass).
    package var isOpen: Bool { state != .closed }

    /// A one-line status for `/ready`, e.g. `loki circuit open, next probe in 4.2 s`.
    package var stateDescription: String {
        "loki " + breaker.withLockedValue { $0.description(now: .now) }
    }
}
