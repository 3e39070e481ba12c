import BridgeCodecs
import BridgeCore
import Foundation
import NIOConcurrencyHelpers

/// What the counting Loki stand-in received: counts, the line fingerprint, problems found, and
/// an end-to-end latency histogram (receive time minus the entry's timestamp, 1 ms buckets).
final class SinkStats: Sendable {
    struct Totals {
        var pushes = 0
        var entries = 0
        var lineBytes = 0
        var bodyBytes = 0
        var lineHashSum: UInt64 = 0
        var entriesByTenant: [String: Int] = [:]
        var problems = 0
        var lastProblem = ""
        var firstPushNanos: Int64 = 0
        var lastPushNanos: Int64 = 0
        /// (arrival time, entries so far) after each accepted push: the bench reads when a share
        /// of the lines had arrived (a steady rate without the last batches' `BATCH_WAIT`).
        var arrivals: [(nanos: Int64, entries: Int)] = []
        /// latency[ms] = entries that arrived that many milliseconds after their timestamp.
        var latency = [Int](repeating: 0, count: 120_001)
    }

    private let totals = NIOLockedValueBox(Totals())

    /// Checks and counts one push body (snappy protobuf); returns the problem, if any, so the
    /// push can be answered 400 like Loki would.
    func record(tenant: String?, body: [UInt8]) -> String? {
        let now = Int64(Date().timeIntervalSince1970 * 1e9)
        // This push's counts, added to the totals under the lock at the end (not a `Totals`:
        // its latency histogram is a megabyte to clear for every push).
        var local = (entries: 0, lineBytes: 0, lineHashSum: UInt64(0))
        var latencies: [Int] = []
        latencies.reserveCapacity(16_384)
        let problem: String?
        do {
            guard let tenant, !tenant.isEmpty else { throw RecordDecodeError(.invalidTenant, "no X-Scope-OrgID") }
            let raw = try Snappy.decompress(body, limit: 100 << 20)  // Loki's own body limit
            try raw.withUnsafeBufferPointer { (buffer) throws(RecordDecodeError) in
                try Self.scan(buffer) { line, nanos in
                    local.entries += 1
                    local.lineBytes += line.count
                    local.lineHashSum &+= ByteHash.hash(UnsafeRawBufferPointer(line))
                    latencies.append(Int(max(0, min(120_000, (now - nanos) / 1_000_000))))
                }
            }
            problem = nil
        } catch let error as RecordDecodeError {
            problem = error.detail
        } catch {
            problem = "\(error)"
        }
        totals.withLockedValue { totals in
            totals.pushes += 1
            totals.bodyBytes += body.count
            if let problem {
                totals.problems += 1
                totals.lastProblem = problem
                return
            }
            if totals.firstPushNanos == 0 { totals.firstPushNanos = now }
            totals.lastPushNanos = now
            totals.entries += local.entries
            totals.arrivals.append((now, totals.entries))
            totals.lineBytes += local.lineBytes
            totals.lineHashSum &+= local.lineHashSum
            if let tenant { totals.entriesByTenant[tenant, default: 0] += local.entries }
            for milliseconds in latencies { totals.latency[milliseconds] += 1 }
        }
        return problem
    }

    /// Forgets the latency histogram (after the warm-up of a latency run).
    func resetLatency() {
        totals.withLockedValue {
            $0.latency = [Int](repeating: 0, count: 120_001)
            $0.arrivals = []
        }
    }

    /// The totals as JSON, with latency percentiles in milliseconds.
    func json() -> [UInt8] {
        let t = totals.withLockedValue { $0 }
        let counted = t.latency.reduce(0, +)
        func percentile(_ p: Double) -> Int {
            guard counted > 0 else { return -1 }
            let rank = Int((Double(counted) * p).rounded(.up))
            var seen = 0
            for (milliseconds, count) in t.latency.enumerated() {
                seen += count
                if seen >= rank { return milliseconds }
            }
            return t.latency.count - 1
        }
        let object: [String: Any] = [
            "pushes": t.pushes, "entries": t.entries, "line_bytes": t.lineBytes, "body_bytes": t.bodyBytes,
            "line_hash_sum": String(t.lineHashSum), "entries_by_tenant": t.entriesByTenant, "problems": t.problems,
            "last_problem": t.lastProblem, "first_push_ns": t.firstPushNanos, "last_push_ns": t.lastPushNanos,
            "latency_entries": counted, "latency_p50_ms": percentile(0.5), "latency_p99_ms": percentile(0.99),
            "latency_max_ms": percentile(1.0),
            // When 99 % of the lines that arrived so far had arrived.
            "p99_entries_ns": t.arrivals.first { $0.entries * 100 >= t.entries * 99 }?.nanos ?? 0,
        ]
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
    }

    /// Walks a PushRequest, calling `entry` with each line and its timestamp; rejects what Loki
    /// would: malformed protobuf, streams without labels, entries without a timestamp.
    static func scan(
        _ buffer: UnsafeBufferPointer<UInt8>, entry: (UnsafeBufferPointer<UInt8>, Int64) -> Void
    ) throws(RecordDecodeError) {
        var request = ProtoWireReader(buffer)
        while !request.isAtEnd {
            let (field, wire) = try request.readTag()
            guard field == 1, wire == 2 else { throw RecordDecodeError(.protobuf, "unexpected PushRequest field \(field)") }
            let streamRange = try request.readLengthDelimited()
            var stream = ProtoWireReader(buffer, start: streamRange.lowerBound, end: streamRange.upperBound)
            var labels = false
            while !stream.isAtEnd {
                let (field, wire) = try stream.readTag()
                let range = try stream.readLengthDelimited()
                guard wire == 2 else { throw RecordDecodeError(.protobuf, "StreamAdapter field with wire type \(wire)") }
                if field == 1 {
                    labels = range.count > 2 && buffer[range.lowerBound] == UInt8(ascii: "{")
                } else if field == 2 {
                    try scanEntry(buffer, range, entry: entry)
                }
            }
            guard labels else { throw RecordDecodeError(.protobuf, "stream without a label set") }
        }
    }

    private static func scanEntry(
        _ buffer: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, entry: (UnsafeBufferPointer<UInt8>, Int64) -> Void
    ) throws(RecordDecodeError) {
        var reader = ProtoWireReader(buffer, start: range.lowerBound, end: range.upperBound)
        var nanos: Int64 = 0
        var line: Range<Int> = 0..<0
        while !reader.isAtEnd {
            let (field, wire) = try reader.readTag()
            guard wire == 2 else { throw RecordDecodeError(.protobuf, "EntryAdapter field with wire type \(wire)") }
            let value = try reader.readLengthDelimited()
            if field == 1 {
                var timestamp = ProtoWireReader(buffer, start: value.lowerBound, end: value.upperBound)
                while !timestamp.isAtEnd {
                    let (field, _) = try timestamp.readTag()
                    let number = Int64(bitPattern: try timestamp.readVarint())
                    nanos += field == 1 ? number * 1_000_000_000 : number
                }
            } else if field == 2 {
                line = value
            }
        }
        guard nanos > 0 else { throw RecordDecodeError(.protobuf, "entry without a timestamp") }
        entry(UnsafeBufferPointer(rebasing: buffer[line]), nanos)
    }
}
