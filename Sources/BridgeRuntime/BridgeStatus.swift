import NIOConcurrencyHelpers

/// What `/ready` reports, shared between the bridge service and the admin server.
package final class BridgeStatus: Sendable {
    private struct State {
        var started = false
        var shuttingDown = false
        var groupMember: @Sendable () -> Bool = { false }
        var loki: @Sendable () -> String? = { nil }
    }

    private let state = NIOLockedValueBox(State())

    /// Creates a status holder (not ready).
    package init() {}

    /// - Parameter loki: a problem with Loki worth reporting (its circuit is open), or `nil`.
    func started(groupMember: @escaping @Sendable () -> Bool, loki: @escaping @Sendable () -> String? = { nil }) {
        state.withLockedValue {
            $0.started = true
            $0.groupMember = groupMember
            $0.loki = loki
        }
    }

    func shuttingDown() { state.withLockedValue { $0.shuttingDown = true } }

    /// Ready when the consumer runs, has joined its group, Loki's circuit is closed, and no
    /// shutdown is under way.
    package var readiness: (ready: Bool, detail: String) {
        let (started, stopping, member, loki) = state.withLockedValue {
            ($0.started, $0.shuttingDown, $0.groupMember, $0.loki)
        }
        if stopping { return (false, "shutting down") }
        if !started { return (false, "starting") }
        if let problem = loki() { return (false, problem) }
        return member() ? (true, "ready") : (false, "joining consumer group")
    }
}
