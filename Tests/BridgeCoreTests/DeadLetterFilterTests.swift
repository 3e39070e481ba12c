import BridgeCore
import Testing

@Suite("DeadLetterFilter: what dlq replay takes")
struct DeadLetterFilterTests {
    func letter(tenant: String?, reason: String, at millis: Int64) -> KafkaRecord {
        let source = KafkaRecord(topicPartition: TopicPartition(topic: "t", partition: 0), offset: 1, value: [1])
        let headers = DeadLetter(record: source, reason: reason, detail: "d", tenant: tenant, firstFailureMillis: millis).headers
        return KafkaRecord(topicPartition: TopicPartition(topic: "t-dlq", partition: 0), offset: 7, value: [1], headers: headers)
    }

    @Test func emptyFilterTakesEverything() {
        #expect(DeadLetterFilter().matches(letter(tenant: nil, reason: "json", at: 0)))
        #expect(DeadLetterFilter().matches(KafkaRecord(topicPartition: .init(topic: "x", partition: 0), offset: 0, value: nil)))
    }

    @Test func tenantAndReasonMustBothMatch() {
        let filter = DeadLetterFilter(tenants: ["team-a"], reasons: ["loki_rejected"])
        #expect(filter.matches(letter(tenant: "team-a", reason: "loki_rejected", at: 0)))
        #expect(!filter.matches(letter(tenant: "team-b", reason: "loki_rejected", at: 0)))
        #expect(!filter.matches(letter(tenant: "team-a", reason: "json", at: 0)))
        #expect(!filter.matches(letter(tenant: nil, reason: "loki_rejected", at: 0)), "no tenant header: not team-a")
    }

    @Test(arguments: [(Int64(999), false), (1000, true), (1999, true), (2000, false)])
    func timeRangeIsHalfOpen(at millis: Int64, expected: Bool) {
        let filter = DeadLetterFilter(sinceMillis: 1000, untilMillis: 2000)
        #expect(filter.matches(letter(tenant: "a", reason: "json", at: millis)) == expected)
    }
}
