import BridgeCore

/// Log lines that look like a busy cluster's: an RFC 3339 time, a level, a caller, a message,
/// request fields and random request / trace / span ids. The random ids keep snappy near the
/// 2x ratio of real logs (a template-only generator compresses 10x and flatters every codec).
/// Lines average about 250 bytes; two shapes alternate: logfmt and JSON.
struct LogLineGenerator {
    private var random: BenchRandom
    private static let paths = [
        "/api/v1/orders", "/api/v1/cart/items", "/api/v2/payments/authorize", "/healthz", "/api/v1/users/profile",
        "/api/v1/search", "/api/v1/inventory/reserve", "/metrics",
    ]
    private static let messages = [
        "request completed", "upstream call finished", "cache miss, loading from database", "retrying request",
        "payment authorized", "slow query detected", "connection pool exhausted, waiting",
    ]
    private static let callers = ["handler.go:142", "client.go:88", "repository.go:311", "middleware.go:57", "pool.go:203"]
    private static let levels = ["info", "info", "info", "debug", "warn", "error"]
    private static let methods = ["GET", "GET", "POST", "PUT", "DELETE"]
    private static let statuses = [200, 200, 200, 201, 204, 400, 404, 500, 503]

    init(seed: UInt64) { random = BenchRandom(seed: seed) }

    /// Appends one line for time `nanos` (Unix) to `out`.
    mutating func appendLine(nanos: Int64, to out: inout [UInt8]) {
        let level = random.pick(Self.levels)
        let path = random.pick(Self.paths)
        let status = random.pick(Self.statuses)
        let duration = random.below(250_000)
        if random.below(2) == 0 {
            appendTime(nanos, to: &out)
            out += Array(" level=\(level) caller=\(random.pick(Self.callers)) msg=\"\(random.pick(Self.messages))\" method=\(random.pick(Self.methods)) path=\(path)/\(random.below(100_000)) status=\(status) duration=\(duration / 1000).\(duration % 1000)ms bytes=\(random.below(90_000)) user=u-\(random.below(1_000_000)) request_id=".utf8)
            random.appendHex(16, to: &out)
            out += Array(" trace_id=".utf8)
            random.appendHex(32, to: &out)
            out += Array(" span_id=".utf8)
            random.appendHex(16, to: &out)
        } else {
            out += Array("{\"ts\":\"".utf8)
            appendTime(nanos, to: &out)
            out += Array("\",\"level\":\"\(level)\",\"msg\":\"\(random.pick(Self.messages))\",\"http\":{\"method\":\"\(random.pick(Self.methods))\",\"path\":\"\(path)\",\"status\":\(status)},\"latency_us\":\(duration),\"tenant\":\"t\(random.below(5000))\",\"trace_id\":\"".utf8)
            random.appendHex(32, to: &out)
            out += Array("\",\"span_id\":\"".utf8)
            random.appendHex(16, to: &out)
            out += Array("\"}".utf8)
        }
    }

    mutating func nextInt(below bound: Int) -> Int { random.below(bound) }

    /// `2026-11-21T10:15:30.123456Z` (UTC, microseconds).
    private func appendTime(_ nanos: Int64, to out: inout [UInt8]) {
        let seconds = nanos / 1_000_000_000
        let micros = (nanos / 1000) % 1_000_000
        let days = seconds / 86_400
        let secondOfDay = seconds % 86_400
        let (year, month, day) = RFC3339.civilFromDays(Int(days))
        func digits(_ value: Int64, _ width: Int) {
            var divisor: Int64 = 1
            for _ in 1..<width { divisor *= 10 }
            var value = value
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(value / divisor))
                value %= divisor
                divisor /= 10
            }
        }
        digits(Int64(year), 4); out.append(UInt8(ascii: "-")); digits(Int64(month), 2); out.append(UInt8(ascii: "-")); digits(Int64(day), 2)
        out.append(UInt8(ascii: "T"))
        digits(secondOfDay / 3600, 2); out.append(UInt8(ascii: ":")); digits(secondOfDay / 60 % 60, 2)
        out.append(UInt8(ascii: ":")); digits(secondOfDay % 60, 2); out.append(UInt8(ascii: "."))
        digits(micros, 6); out.append(UInt8(ascii: "Z"))
    }
}
