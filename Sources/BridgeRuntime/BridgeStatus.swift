import NIOConcurrencyHelpers

/// What `/ready` reports, shared between the bridge service and the admin server.
package final class BridgeStatus: Sendable {
    private struct State {
        var started = false
        var shuttingDown = false
        var groupMember: @Sendable () -> Bool = { false }
    }

    private let state = NIOLockedValueBox(State())

    /// Creates a status holder (not ready).
    package init() {}

    func started(groupMember: @escaping @Sendable () -> Bool) {
        state.withLockedValue {
            $0.started = true
            $0.groupMember = groupMember
        }
    }

    func shuttingDown() { state.withLockedValue { $0.shuttingDown = true } }

    /// Ready when the consumer runs, has joined its group, and no shutdown is under way.
    package var readiness: (ready: Bool, detail: String) {
        let (started, stopping, member) = state.withLockedValue { ($0.started, $0.shuttingDown, $0.groupMember) }
        if stopping { return (false, "shutting down") }
        if !started { return (false, "starting") }
        return member() ? (true, "ready") : (false, "joining consumer group")
    }
}
