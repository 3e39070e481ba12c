import BridgeCore

/// Log lines that look like a busy cluster's: an RFC 3339 time, a level, a caller, a message,
/// request fields and random request / trace / span ids. The random ids keep snappy near the
/// 2x ratio of real logs (a template-only generator compresses 10x and flatters every codec).
/// Lines average about 250 bytes; two shapes alternate: logfmt and JSON.
///
/// Two more styles exist for the micro-benchmarks only, so that the line scan's slower paths
/// have figures of their own (the topics keep `.mixed`, so benches stay comparable):
/// `.unicode`, logfmt whose message and user are not ASCII (every block of them takes the
/// UTF-8 check), and `.stackTrace`, an error with a Java stack trace (newlines and tabs, which
/// JSON escapes as `\n` and `\t`), a query string (`&`, which Go's JSON encoder writes as
/// `\u0026`) and a Windows path (`\\`).
struct LogLineGenerator {
    enum Style: String, CaseIterable {
        case mixed
        case unicode
        case stackTrace = "stack-trace"
    }

    private var random: BenchRandom
    private let style: Style
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

    private static let unicodeMessages = [
        "Bestellung übermittelt, Zahlung ausstehend", "заказ оформлен, ожидание оплаты", "支付已授权，等待发货确认",
        "Commande validée : paiement reçu", "注文を受け付けました。発送準備中です", "Ürün stoğa ayrıldı, kargo bekleniyor",
    ]
    private static let unicodeUsers = ["José García", "Zoë Müller", "Łukasz Żółć", "Иван Петров", "王芳", "Ηλέκτρα Παππά"]
    private static let exceptions = [
        ("java.lang.IllegalStateException", "inventory reservation timed out after 5000ms"),
        ("java.net.SocketTimeoutException", "Read timed out"),
        ("org.springframework.dao.DataAccessResourceFailureException", "Unable to acquire JDBC Connection"),
    ]
    private static let frames = [
        "com.shop.inventory.ReservationClient.reserve(ReservationClient.java:142)",
        "com.shop.checkout.OrderService.place(OrderService.java:88)",
        "com.shop.checkout.OrderController.create(OrderController.java:57)",
        "org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:897)",
    ]

    init(seed: UInt64, style: Style = .mixed) {
        random = BenchRandom(seed: seed)
        self.style = style
    }

    /// Appends one line for time `nanos` (Unix) to `out`.
    mutating func appendLine(nanos: Int64, to out: inout [UInt8]) {
        switch style {
        case .mixed: appendMixedLine(nanos: nanos, to: &out)
        case .unicode: appendUnicodeLine(nanos: nanos, to: &out)
        case .stackTrace: appendStackTraceLine(nanos: nanos, to: &out)
        }
    }

    private mutating func appendUnicodeLine(nanos: Int64, to out: inout [UInt8]) {
        appendTime(nanos, to: &out)
        out += Array(" level=\(random.pick(Self.levels)) msg=\"\(random.pick(Self.unicodeMessages))\" user=\"\(random.pick(Self.unicodeUsers))\" order=o-\(random.below(10_000_000)) request_id=".utf8)
        random.appendHex(16, to: &out)
        out += Array(" trace_id=".utf8)
        random.appendHex(32, to: &out)
    }

    private mutating func appendStackTraceLine(nanos: Int64, to out: inout [UInt8]) {
        let (type, message) = random.pick(Self.exceptions)
        appendTime(nanos, to: &out)
        out += Array(" ERROR [http-nio-8080-exec-\(random.below(200))] request failed: GET \(random.pick(Self.paths))?page=\(random.below(50))&size=50&sort=desc trace_id=".utf8)
        random.appendHex(32, to: &out)
        out += Array("\n\(type): \(message)".utf8)
        for frame in Self.frames.prefix(2 + random.below(3)) { out += Array("\n\tat \(frame)".utf8) }
        out += Array("\n\t... \(10 + random.below(80)) more (config C:\\srv\\shop\\app.yaml)".utf8)
    }

    private mutating func appendMixedLine(nanos: Int64, to out: inout [UInt8]) {
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
