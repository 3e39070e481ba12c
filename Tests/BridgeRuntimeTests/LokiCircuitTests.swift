import BridgeCore
import BridgeRuntime
import Synchronization
import Testing

/// Collects what the circuit reports, from any task.
private final class Recorder: Sendable {
    private let events = Mutex<[String]>([])

    func append(_ event: String) { events.withLock { $0.append(event) } }

    var all: [String] { events.withLock { $0 } }
}

@Suite("LokiCircuit")
struct LokiCircuitTests {
    /// A circuit that opens on the first failure for 50 ms and records its transitions.
    private static func circuit(
        openDuration: Duration = .milliseconds(50), recorder: Recorder
    ) -> LokiCircuit {
        LokiCircuit(
            configuration: .init(failureThreshold: 1, openDuration: openDuration, recheckInterval: .milliseconds(5)),
            onTransition: { recorder.append("\($0.to)") }
        )
    }

    @Test func acquireReturnsAtOnceWhileClosed() async throws {
        let recorder = Recorder()
        let circuit = Self.circuit(recorder: recorder)
        for _ in 0..<3 {
            let ticket = try await circuit.acquire()
            #expect(!ticket.isProbe)
            circuit.record(.success, ticket: ticket)
        }
        #expect(circuit.state == .closed)
        #expect(!circuit.isOpen)
        #expect(circuit.stateDescription == "loki circuit closed")
        #expect(recorder.all.isEmpty)
    }

    @Test func acquireWaitsOutTheOpenPeriodAndProbes() async throws {
        let recorder = Recorder()
        let circuit = Self.circuit(recorder: recorder)
        circuit.record(.failure, ticket: try await circuit.acquire())
        #expect(circuit.isOpen)
        #expect(circuit.state == .open)
        #expect(circuit.stateDescription.hasPrefix("loki circuit open, next probe in "))
        #expect(recorder.all == ["open"])

        let probe = try await circuit.acquire()
        #expect(probe.isProbe)
        #expect(circuit.state == .halfOpen)
        #expect(circuit.isOpen, "half-open still holds pushes back")
        #expect(recorder.all == ["open", "half-open"])

        // A second lane waits for the probe's answer; it must not get through before it.
        let other = Task {
            let ticket = try await circuit.acquire()
            recorder.append("other lane allowed")
            return ticket
        }
        try await Task.sleep(for: .milliseconds(30))  // give it time to start waiting; no timing asserted
        recorder.append("probe succeeded")
        circuit.record(.success, ticket: probe)
        let ticket = try await other.value
        #expect(!ticket.isProbe)
        #expect(recorder.all == ["open", "half-open", "probe succeeded", "closed", "other lane allowed"])
        #expect(circuit.state == .closed)
    }

    @Test func failedProbeReopens() async throws {
        let recorder = Recorder()
        let circuit = Self.circuit(recorder: recorder)
        circuit.record(.failure, ticket: try await circuit.acquire())
        let probe = try await circuit.acquire()
        circuit.record(.failure, ticket: probe)
        #expect(circuit.state == .open)
        let next = try await circuit.acquire()
        #expect(next.isProbe)
        circuit.record(.neutral, ticket: next)
        #expect(recorder.all == ["open", "half-open", "open", "half-open", "closed"])
    }

    @Test func cancellingAWaitingAcquireThrows() async throws {
        let recorder = Recorder()
        let circuit = Self.circuit(openDuration: .seconds(60), recorder: recorder)
        circuit.record(.failure, ticket: try await circuit.acquire())
        let waiter = Task { try await circuit.acquire() }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(circuit.state == .open, "a cancelled wait changes nothing")
    }

    @Test func cancellingAnAcquireAlreadyAsleepThrows() async throws {
        let recorder = Recorder()
        let circuit = Self.circuit(openDuration: .seconds(60), recorder: recorder)
        circuit.record(.failure, ticket: try await circuit.acquire())
        let waiter = Task {
            recorder.append("waiting")
            return try await circuit.acquire()
        }
        try await Task.sleep(for: .milliseconds(20))  // let it reach the sleep; not asserted
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(recorder.all == ["open", "waiting"])
    }
}
