import BridgeCore
import Testing

/// A fixed origin; every instant in these tests is explicit, nothing sleeps.
private let origin = ContinuousClock.Instant.now

private func at(milliseconds: Int) -> ContinuousClock.Instant { origin + .milliseconds(milliseconds) }

@Suite struct IntakeGateTests {
    @Test func aShortStopIsAHoldAndEndsWithoutTouchingThePartitions() {
        var gate = IntakeGate(holdLimit: .seconds(1))
        #expect(gate.update(stop: false, draining: false, now: at(milliseconds: 0)) == .none)
        #expect(gate.isOpen)
        #expect(gate.update(stop: true, draining: false, now: at(milliseconds: 0)) == .hold)
        #expect(!gate.isOpen && !gate.partitionsPaused)
        #expect(gate.update(stop: true, draining: false, now: at(milliseconds: 999)) == .none)
        #expect(!gate.isOpen && !gate.partitionsPaused)
        #expect(gate.update(stop: false, draining: false, now: at(milliseconds: 999)) == .release)
        #expect(gate.isOpen)
    }

    @Test func aHoldThatLastsTheLimitPausesThePartitionsOnce() {
        var gate = IntakeGate(holdLimit: .seconds(1))
        #expect(gate.update(stop: true, draining: false, now: at(milliseconds: 100)) == .hold)
        #expect(gate.update(stop: true, draining: false, now: at(milliseconds: 1099)) == .none)
        #expect(gate.update(stop: true, draining: false, now: at(milliseconds: 1100)) == .pausePartitions)
        #expect(gate.partitionsPaused)
        #expect(gate.update(stop: true, draining: false, now: at(milliseconds: 60_000)) == .none, "paused once")
        #expect(gate.update(stop: false, draining: false, now: at(milliseconds: 60_001)) == .resumePartitions)
        #expect(gate.isOpen)
    }

    @Test func everyHoldIsTimedFromItsOwnStart() {
        var gate = IntakeGate(holdLimit: .seconds(1))
        #expect(gate.update(stop: true, draining: false, now: at(milliseconds: 0)) == .hold)
        #expect(gate.update(stop: false, draining: false, now: at(milliseconds: 900)) == .release)
        #expect(gate.update(stop: true, draining: false, now: at(milliseconds: 950)) == .hold)
        #expect(gate.update(stop: true, draining: false, now: at(milliseconds: 1500)) == .none, "550 ms into this hold")
        #expect(gate.update(stop: true, draining: false, now: at(milliseconds: 1950)) == .pausePartitions)
    }

    @Test(arguments: [false, true])
    func shutdownPausesAtOnceFromAnyStateAndStaysPaused(heldFirst: Bool) {
        var gate = IntakeGate(holdLimit: .seconds(1))
        if heldFirst { #expect(gate.update(stop: true, draining: false, now: at(milliseconds: 0)) == .hold) }
        #expect(gate.update(stop: false, draining: true, now: at(milliseconds: 10)) == .pausePartitionsForShutdown)
        #expect(gate.partitionsPaused)
        #expect(gate.update(stop: false, draining: true, now: at(milliseconds: 20)) == .none, "never resumes")
        #expect(gate.update(stop: true, draining: true, now: at(milliseconds: 5000)) == .none)
        #expect(gate.partitionsPaused)
    }

    @Test func shutdownAfterAnEscalatedPauseKeepsThePartitionsPaused() {
        var gate = IntakeGate(holdLimit: .milliseconds(10))
        #expect(gate.update(stop: true, draining: false, now: at(milliseconds: 0)) == .hold)
        #expect(gate.update(stop: true, draining: false, now: at(milliseconds: 10)) == .pausePartitions)
        #expect(gate.update(stop: false, draining: true, now: at(milliseconds: 20)) == .none)
        #expect(gate.partitionsPaused)
    }

    @Test func aZeroLimitPausesOnTheFirstCheckAfterTheHoldBegins() {
        var gate = IntakeGate(holdLimit: .zero)
        #expect(gate.update(stop: true, draining: false, now: at(milliseconds: 0)) == .hold)
        #expect(gate.update(stop: true, draining: false, now: at(milliseconds: 0)) == .pausePartitions)
    }
}
