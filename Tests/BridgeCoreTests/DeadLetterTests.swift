import BridgeCore
import Testing

@Suite("DeadLetter: what the dead-letter topic records")
struct DeadLetterTests {
    let record = KafkaRecord(
        topicPartition: TopicPartition(topic: "logging-events", partition: 4), offset: 1234, key: Array("k".utf8),
        value: [1, 2, 3],
        headers: [
            RecordHeader(key: "Content-Type", value: Array("application/x-protobuf".utf8)),
            RecordHeader(key: "x-dlq-reason", value: Array("from an earlier trip".utf8)),
        ])

    func value(_ headers: [RecordHeader], _ key: String) -> String? {
        headers.last { $0.key == key }.flatMap { $0.value.map { String(decoding: $0, as: UTF8.self) } }
    }

    @Test func headersKeepTheSourceAndSayWhy() {
        let letter = DeadLetter(
            record: record, reason: DeadLetter.lokiRejected, detail: "Loki rejected the batch", tenant: "team-a",
            lokiStatus: 400, lokiMessage: "entry too old", firstFailureMillis: 1_700_000_000_123)
        let headers = letter.headers
        #expect(value(headers, "Content-Type") == "application/x-protobuf")
        #expect(headers.filter { $0.key == "x-dlq-reason" }.count == 1, "an earlier trip's x-dlq-* headers are replaced")
        #expect(value(headers, DeadLetter.Header.sourceTopic) == "logging-events")
        #expect(value(headers, DeadLetter.Header.sourcePartition) == "4")
        #expect(value(headers, DeadLetter.Header.sourceOffset) == "1234")
        #expect(value(headers, DeadLetter.Header.tenant) == "team-a")
        #expect(value(headers, DeadLetter.Header.reason) == "loki_rejected")
        #expect(value(headers, DeadLetter.Header.lokiStatus) == "400")
        #expect(value(headers, DeadLetter.Header.lokiMessage) == "entry too old")
        #expect(value(headers, DeadLetter.Header.firstFailure) == "2023-11-14T22:13:20.123Z")
    }

    @Test func absentFieldsAddNoHeader() {
        let letter = DeadLetter(record: record, reason: "snappy", detail: "corrupt", firstFailureMillis: 0)
        let keys = Set(letter.headers.map(\.key))
        #expect(!keys.contains(DeadLetter.Header.tenant))
        #expect(!keys.contains(DeadLetter.Header.lokiStatus))
        #expect(!keys.contains(DeadLetter.Header.lokiMessage))
        #expect(value(letter.headers, DeadLetter.Header.firstFailure) == "1970-01-01T00:00:00.000Z")
    }

    @Test func longTextIsTruncatedAtACharacterBoundary() {
        let long = String(repeating: "é", count: 2000)
        let letter = DeadLetter(record: record, reason: "json", detail: long, firstFailureMillis: 0)
        let detail = value(letter.headers, DeadLetter.Header.detail) ?? ""
        #expect(detail.utf8.count <= DeadLetter.maxTextBytes)
        #expect(detail.hasSuffix("..."))
        #expect(detail.dropLast(3).allSatisfy { $0 == "é" })
    }

    @Test(arguments: [
        ("{topic}-dlq", "logging-events", "logging-events-dlq"), ("dead-letters", "a", "dead-letters"),
        ("dlq.{topic}.{topic}", "x", "dlq.x.x"),
    ])
    func topicTemplate(template: String, source: String, expected: String) {
        #expect(DeadLetter.topic(template: template, source: source) == expected)
    }

    @Test(arguments: [Int64(0), 951_782_400_000, 1_700_000_000_123, 4_102_444_799_999, -1])
    func rfc3339FormatRoundTrips(millis: Int64) {
        let text = RFC3339.format(millis: millis)
        #expect(RFC3339.parseNanos(text) == millis * 1_000_000, "\(text)")
    }
}
