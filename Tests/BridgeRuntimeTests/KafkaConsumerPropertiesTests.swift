import KafkaInput
import Testing

@Suite("Consumer properties handed to librdkafka")
struct KafkaConsumerPropertiesTests {
    @Test("the loaded librdkafka is asked which properties it knows")
    func supportCheck() {
        #expect(RDKafkaPropertyValidator.isSupported("fetch.wait.max.ms"))
        #expect(!RDKafkaPropertyValidator.isSupported("fetch.no.such.property"))
    }

    @Test("version-dependent defaults apply when supported, and the user's value and the enforced ones win")
    func precedence() {
        let supported = RDKafkaPropertyValidator.isSupported("fetch.queue.backoff.ms")
        let defaults = KafkaConsumerConfiguration(topics: ["t"], properties: [:]).effectiveProperties
        #expect(defaults["fetch.queue.backoff.ms"] == (supported ? "20" : nil))
        let user = KafkaConsumerConfiguration(
            topics: ["t"], properties: ["fetch.queue.backoff.ms": "500", "enable.auto.commit": "true"]
        ).effectiveProperties
        #expect(user["fetch.queue.backoff.ms"] == "500")
        #expect(user["enable.auto.commit"] == "false")
        // Every property handed over is one the loaded librdkafka accepts.
        #expect(throws: Never.self) { try RDKafkaPropertyValidator.validate(defaults) }
    }

    @Test("the intake hold stays under a tenth of max.poll.interval.ms, so a held member is not expelled")
    func holdLimitFollowsMaxPollInterval() {
        func limit(_ properties: [String: String]) -> Duration {
            KafkaConsumerConfiguration(topics: ["t"], properties: properties).effectiveHoldLimit
        }
        #expect(limit([:]) == .seconds(1))
        #expect(limit(["max.poll.interval.ms": "300000"]) == .seconds(1))
        #expect(limit(["max.poll.interval.ms": "5000"]) == .milliseconds(500))
        #expect(limit(["max.poll.interval.ms": "not a number"]) == .seconds(1), "librdkafka refuses it at start")
    }
}
