import BridgeCodecs
import BridgeCore
import BridgeRuntime
import CoreMetrics
import Foundation
import Logging

/// Counts `wakeScheduler` calls and lets a test block (bounded) until the next one.
///
/// - Important: `@unchecked Sendable`: `count` is only touched under `condition`.
final class WakeCounter: @unchecked Sendable {
    private let condition = NSCondition()
    private var count = 0

    func wake() {
        condition.lock()
        count += 1
        condition.broadcast()
        condition.unlock()
    }

    var value: Int {
        condition.lock()
        defer { condition.unlock() }
        return count
    }

    /// Waits until more than `previous` wakes happened; false on timeout.
    func wait(past previous: Int, timeout: TimeInterval = 10) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        while count <= previous, condition.wait(until: deadline) {}
        return count > previous
    }
}

/// A value produced on another thread, awaited with a bound.
///
/// - Important: `@unchecked Sendable`: `value` is only touched under `condition`.
final class ThreadResult<Value>: @unchecked Sendable {
    private let condition = NSCondition()
    private var value: Value?

    /// Runs `body` on a new thread.
    init(_ body: @escaping @Sendable () -> Value) {
        Thread { [self] in
            let result = body()
            condition.lock()
            value = result
            condition.broadcast()
            condition.unlock()
        }.start()
    }

    func get(timeout: TimeInterval = 15) -> Value? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        while value == nil, condition.wait(until: deadline) {}
        return value
    }
}

/// A pipeline with the production decoder (libsnappy/zlib), no-op metrics and logs, and a
/// wake counter instead of the push scheduler: tests play the scheduler with `takeWork`/`finish`.
struct PipelineHarness {
    let pipeline: Pipeline
    let wakes = WakeCounter()

    /// - Parameter metricsFactory: where the pipeline's metrics go (no-op by default).
    init(
        metricsFactory: any MetricsFactory = NOOPMetricsHandler.instance,
        configure: (inout BridgeConfiguration) -> Void = { _ in }
    ) {
        var configuration = BridgeConfiguration()
        configure(&configuration)
        let wakes = wakes
        pipeline = Pipeline(
            configuration: configuration,
            decoder: RecordDecoder(options: .init(), decompressor: NativeDecompressor()),
            metrics: BridgeMetrics(factory: metricsFactory, version: "test"),
            logger: Logger(label: "pipeline-test", factory: { _ in SwiftLogNoOpLogHandler() }),
            wakeScheduler: { wakes.wake() }
        )
    }

    static func partition(_ number: Int32) -> TopicPartition {
        TopicPartition(topic: "logging-events", partition: number)
    }

    /// The uncompressed PushRequest of one fixed-size entry, stamped now (the pipeline applies
    /// Loki's age limit before pushing).
    static let pushRequest: [UInt8] = {
        var body: [UInt8] = []
        let now = Int64(Date().timeIntervalSince1970 * 1e9)
        PushBodyBuilder.appendStreams(
            [LokiStream(labels: #"{app="test"}"#, entries: [LokiEntry(timestampNanos: now, line: "a log line")])],
            to: &body
        )
        return body
    }()

    /// A snappy protobuf record, as the alloy-distributor writes it.
    static func record(_ partition: TopicPartition, _ offset: Int64, tenant: String?) -> KafkaRecord {
        var headers = [RecordHeader(key: "Content-Type", value: Array("application/x-protobuf".utf8))]
        if let tenant { headers.append(RecordHeader(key: "X-Scope-OrgID", value: Array(tenant.utf8))) }
        return KafkaRecord(
            topicPartition: partition,
            offset: offset,
            value: Snappy.compress(pushRequest),
            headers: headers
        )
    }

    /// A record the decoder refuses.
    static func undecodable(_ partition: TopicPartition, _ offset: Int64) -> KafkaRecord {
        KafkaRecord(
            topicPartition: partition,
            offset: offset,
            value: Array("hello".utf8),
            headers: [RecordHeader(key: "Content-Type", value: Array("text/plain".utf8))]
        )
    }
}
