import ArgumentParser
import BridgeCore
import BridgeRuntime
import Testing

@testable import kafka_loki_bridge

@Suite("kafka-loki-bridge dlq replay")
struct DeadLetterCommandTests {
    @Test func replayIsADryRunUnlessExecute() throws {
        let dry = try #require(try KafkaLokiBridge.parseAsRoot(["dlq", "replay"]) as? KafkaLokiBridge.DeadLetters.Replay)
        #expect(!dry.execute)
        let real = try #require(
            try KafkaLokiBridge.parseAsRoot([
                "dlq", "replay", "--tenant", "a", "--tenant", "b", "--reason", "loki_rejected", "--since",
                "2026-11-20T00:00:00Z", "--execute", "--group", "g", "--topic", "t-dlq",
            ]) as? KafkaLokiBridge.DeadLetters.Replay)
        #expect(real.execute)
        #expect(real.tenants == ["a", "b"])
        #expect(real.reasons == ["loki_rejected"])
        #expect(real.group == "g")
        #expect(real.topics == ["t-dlq"])
    }

    @Test(arguments: [["--since", "yesterday"], ["--until", "2026-13-01T00:00:00Z"], ["--timeout", "soon"]])
    func invalidValuesAreRejected(arguments: [String]) {
        #expect(throws: (any Error).self) { try KafkaLokiBridge.parseAsRoot(["dlq", "replay"] + arguments) }
    }

    @Test func replayConfigurationReadsTheDeadLetterTopicsWithItsOwnGroup() {
        var base = BridgeConfiguration()
        base.kafka.topics = ["logging-events", "logs-high-priority"]
        base.kafka.groupInstanceID = "bridge-0"
        let replay = DeadLetterReplay.configuration(from: base, topics: nil, group: nil)
        #expect(replay.kafka.topics == ["logging-events-dlq", "logs-high-priority-dlq"])
        #expect(replay.kafka.groupID == "loki-consumer-group-dlq-replay")
        #expect(replay.kafka.groupInstanceID == nil, "the replay must not take over a replica's static identity")
        #expect(!replay.deadLetter.enabled, "a failing replay must not dead-letter its dead letters again")
        #expect(DeadLetterReplay.configuration(from: base, topics: ["x"], group: "g").kafka.topics == ["x"])
    }
}
