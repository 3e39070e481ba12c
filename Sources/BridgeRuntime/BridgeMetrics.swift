import BridgeCore
import CoreMetrics
import NIOConcurrencyHelpers

/// The bridge's Prometheus metrics, created once and cached per label set.
///
/// Names carry the `kafka_loki_bridge_` prefix and a unit suffix; labels are bounded (topic,
/// partition, status code, outcome, reason), never tenants, offsets or URLs.
package final class BridgeMetrics: Sendable {
    /// Prefix of every metric name.
    package static let prefix = "kafka_loki_bridge_"

    private let factory: any MetricsFactory
    private let counters = NIOLockedValueBox<[String: Counter]>([:])
    private let gauges = NIOLockedValueBox<[String: Gauge]>([:])
    /// The consumption counters per partition, found by partition, not by building a label key
    /// for each of the three for every record.
    private let consumption = NIOLockedValueBox<[TopicPartition: ConsumptionCounters]>([:])
    /// Duration of one push request (histogram).
    let pushDuration: Timer
    /// Gauges set after every consumed record, kept at hand rather than looked up by name.
    private let inFlightBytes: Gauge
    private let inFlightRecords: Gauge
    private let intakePausedGauge: Gauge

    /// Creates the metrics on `factory` (the Prometheus factory in production, a test factory in tests).
    package init(factory: any MetricsFactory, version: String) {
        self.factory = factory
        pushDuration = Timer(label: Self.prefix + "push_duration_seconds", dimensions: [], preferredDisplayUnit: .seconds, factory: factory)
        inFlightBytes = Gauge(label: Self.prefix + "in_flight_bytes", dimensions: [], factory: factory)
        inFlightRecords = Gauge(label: Self.prefix + "in_flight_records", dimensions: [], factory: factory)
        intakePausedGauge = Gauge(label: Self.prefix + "intake_paused", dimensions: [], factory: factory)
        gauge("build_info", ["version": version]).record(1)
        // Series that alerts watch with increase(): created at 0 so the first event is a visible step.
        for outcome in ["accepted", "rejected"] { _ = counter("entries_pushed_total", ["outcome": outcome]) }
        for outcome in ["success", "failure"] { _ = counter("commits_total", ["outcome": outcome]) }
        _ = counter("push_retries_total")
        _ = counter("dead_letter_errors_total")
        _ = counter("intake_holds_total")
        _ = counter("intake_partition_pauses_total")
    }

    func counter(_ name: String, _ labels: KeyValuePairs<String, String> = [:]) -> Counter {
        let key = Self.key(name, labels)
        return counters.withLockedValue { cache in
            if let counter = cache[key] { return counter }
            let counter = Counter(label: Self.prefix + name, dimensions: labels.map { ($0.key, $0.value) }, factory: factory)
            cache[key] = counter
            return counter
        }
    }

    func gauge(_ name: String, _ labels: KeyValuePairs<String, String> = [:]) -> Gauge {
        let key = Self.key(name, labels)
        return gauges.withLockedValue { cache in
            if let gauge = cache[key] { return gauge }
            let gauge = Gauge(label: Self.prefix + name, dimensions: labels.map { ($0.key, $0.value) }, factory: factory)
            cache[key] = gauge
            return gauge
        }
    }

    private static func key(_ name: String, _ labels: KeyValuePairs<String, String>) -> String {
        labels.reduce(name) { "\($0)|\($1.key)=\($1.value)" }
    }

    // MARK: - Named metrics

    /// One record of `partition` consumed: `bytes` of value, `entries` decoded (0 if it was not).
    func consumed(_ partition: TopicPartition, bytes: Int, entries: Int) {
        let counters = consumption(partition)
        counters.records.increment()
        counters.bytes.increment(by: bytes)
        counters.entries.increment(by: entries)
    }

    /// The counters a consumed record of `partition` moves.
    private struct ConsumptionCounters: Sendable {
        /// `records_consumed_total{topic, partition}`
        let records: Counter
        /// `record_bytes_consumed_total{topic}`
        let bytes: Counter
        /// `entries_consumed_total{topic}`
        let entries: Counter
    }

    private func consumption(_ partition: TopicPartition) -> ConsumptionCounters {
        if let known = consumption.withLockedValue({ $0[partition] }) { return known }
        let counters = ConsumptionCounters(
            records: counter("records_consumed_total", ["topic": partition.topic, "partition": "\(partition.partition)"]),
            bytes: counter("record_bytes_consumed_total", ["topic": partition.topic]),
            entries: counter("entries_consumed_total", ["topic": partition.topic]))
        consumption.withLockedValue { $0[partition] = counters }
        return counters
    }

    func recordFailed(topic: String, reason: String) {
        counter("records_failed_total", ["topic": topic, "reason": reason]).increment()
    }

    func push(statusCode: String) { counter("pushes_total", ["status_code": statusCode]).increment() }

    func entriesPushed(outcome: String, count: Int) {
        counter("entries_pushed_total", ["outcome": outcome]).increment(by: count)
    }

    func pushRetry() { counter("push_retries_total").increment() }

    func consumerError(code: String) { counter("consumer_errors_total", ["code": code]).increment() }

    func deadLettered(reason: String) { counter("dead_letters_total", ["reason": reason]).increment() }

    func deadLetterError() { counter("dead_letter_errors_total").increment() }

    /// 0 closed, 1 half-open, 2 open.
    func lokiCircuit(state: Int) { gauge("loki_circuit_state").record(state) }

    func entriesTruncated(count: Int) { counter("entries_truncated_total").increment(by: count) }

    func entriesRefused(reason: String, count: Int) {
        counter("entries_refused_total", ["reason": reason]).increment(by: count)
    }

    func commit(success: Bool) { counter("commits_total", ["outcome": success ? "success" : "failure"]).increment() }

    func lag(_ partition: TopicPartition, records: Int64) {
        gauge("consumer_lag_records", ["topic": partition.topic, "partition": "\(partition.partition)"]).record(records)
    }

    /// Drops the lag gauge of a partition this replica no longer owns, so it does not linger.
    func forgetLag(_ partition: TopicPartition) {
        let key = Self.key("consumer_lag_records", ["topic": partition.topic, "partition": "\(partition.partition)"])
        gauges.withLockedValue { $0.removeValue(forKey: key) }?.destroy()
    }

    func assignedPartitions(_ count: Int) { gauge("assigned_partitions").record(count) }

    func inFlight(bytes: Int, records: Int) {
        inFlightBytes.record(bytes)
        inFlightRecords.record(records)
    }

    /// 1 while intake is stopped, held or with its partitions paused.
    func intakePaused(_ paused: Bool) { intakePausedGauge.record(paused ? 1 : 0) }

    func intakeHeld() { counter("intake_holds_total").increment() }

    func intakePartitionsPaused() { counter("intake_partition_pauses_total").increment() }
}
