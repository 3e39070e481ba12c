import BridgeCore
import CCurl
import NIOConcurrencyHelpers

/// Connection settings for Loki's push endpoint.
package struct LokiClientConfiguration: Sendable {
    /// Full push URL, e.g. `http://loki-write:3100/loki/api/v1/push`.
    package var url: String
    /// Whole-request timeout.
    package var timeout: Duration
    /// TCP/TLS connect timeout.
    package var connectTimeout: Duration
    /// HTTP basic auth user (with `password`), e.g. for a gateway in front of Loki.
    package var username: String?
    /// HTTP basic auth password.
    package var password: String?
    /// Bearer token sent as `Authorization: Bearer …`.
    package var bearerToken: String?
    /// CA bundle (PEM) to verify Loki's TLS certificate.
    package var caFile: String?
    /// Skip TLS verification (testing only).
    package var insecureSkipVerify: Bool
    /// Extra headers on every push.
    package var headers: [String: String]
    /// `User-Agent` header.
    package var userAgent: String

    /// Creates a configuration; defaults match the configuration reference.
    package init(
        url: String, timeout: Duration = .seconds(10), connectTimeout: Duration = .seconds(5),
        username: String? = nil, password: String? = nil, bearerToken: String? = nil, caFile: String? = nil,
        insecureSkipVerify: Bool = false, headers: [String: String] = [:], userAgent: String = "kafka-loki-bridge"
    ) {
        self.url = url
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.username = username
        self.password = password
        self.bearerToken = bearerToken
        self.caFile = caFile
        self.insecureSkipVerify = insecureSkipVerify
        self.headers = headers
        self.userAgent = userAgent
    }
}

/// Sends snappy-compressed protobuf push requests to Loki with libcurl.
///
/// - Important: ``push(body:tenant:)`` blocks the calling thread for the whole HTTP exchange;
///   call it from a thread pool, never from Swift's cooperative pool. Up to `handles` pushes
///   may run at once, each on its own keep-alive connection.
package final class LokiPushClient: Sendable {
    private let configuration: LokiClientConfiguration
    private let pool = NIOLockedValueBox<[CurlEasyHandle]>([])

    /// Creates a client.
    package init(configuration: LokiClientConfiguration) {
        self.configuration = configuration
    }

    /// Pushes one snappy-compressed `PushRequest`.
    ///
    /// - Parameters:
    ///   - body: the compressed request body.
    ///   - tenant: the `X-Scope-OrgID` value, `nil` to send none.
    /// - Returns: Loki's answer, whatever its status.
    /// - Throws: ``LokiPushError`` when no answer arrived (connection, timeout, TLS).
    package func push(body: [UInt8], tenant: String?) throws(LokiPushError) -> LokiResponse {
        let handle = pool.withLockedValue { $0.popLast() } ?? CurlEasyHandle()
        // A handle whose transfer failed may hold a broken connection: on a throw it is dropped.
        let response = try perform(handle, body: body, tenant: tenant)
        pool.withLockedValue { $0.append(handle) }
        return response
    }

    private func perform(_ easy: CurlEasyHandle, body: [UInt8], tenant: String?) throws(LokiPushError) -> LokiResponse {
        var headerLines = [
            "Content-Type: application/x-protobuf",
            "User-Agent: \(configuration.userAgent)",
            "Expect:",  // no 100-continue round trip for large bodies
        ]
        if let tenant { headerLines.append("X-Scope-OrgID: \(tenant)") }
        if let token = configuration.bearerToken { headerLines.append("Authorization: Bearer \(token)") }
        for (name, value) in configuration.headers.sorted(by: { $0.key < $1.key }) {
            headerLines.append("\(name): \(value)")
        }
        var headerList: UnsafeMutablePointer<curl_slist>?
        for line in headerLines { headerList = curl_slist_append(headerList, line) }
        defer { curl_slist_free_all(headerList) }

        let capture = ResponseCapture()
        let unmanaged = Unmanaged.passRetained(capture)
        defer { unmanaged.release() }
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)

        return try easy.withHandle { (curl) throws(LokiPushError) -> LokiResponse in
            curl_easy_reset(curl)
            let code: CURLcode = body.withUnsafeBytes { bodyBytes in
                errorBuffer.withUnsafeMutableBufferPointer { errorPointer in
                    _ = CCurl_setopt_ptr(curl, CURLOPT_URL, configuration.url)
                    _ = CCurl_setopt_long(curl, CURLOPT_POST, 1)
                    _ = CCurl_setopt_ptr(curl, CURLOPT_POSTFIELDS, bodyBytes.baseAddress)
                    _ = CCurl_setopt_off_t(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bodyBytes.count))
                    _ = CCurl_setopt_ptr(curl, CURLOPT_HTTPHEADER, headerList)
                    _ = CCurl_setopt_long(curl, CURLOPT_TIMEOUT_MS, configuration.timeout.milliseconds)
                    _ = CCurl_setopt_long(curl, CURLOPT_CONNECTTIMEOUT_MS, configuration.connectTimeout.milliseconds)
                    _ = CCurl_setopt_long(curl, CURLOPT_NOSIGNAL, 1)
                    _ = CCurl_setopt_long(curl, CURLOPT_TCP_KEEPALIVE, 1)
                    _ = CCurl_setopt_ptr(curl, CURLOPT_ERRORBUFFER, errorPointer.baseAddress)
                    _ = CCurl_setopt_write_callback(curl, CURLOPT_WRITEFUNCTION, captureBody)
                    _ = CCurl_setopt_ptr(curl, CURLOPT_WRITEDATA, unmanaged.toOpaque())
                    _ = CCurl_setopt_write_callback(curl, CURLOPT_HEADERFUNCTION, captureHeader)
                    _ = CCurl_setopt_ptr(curl, CURLOPT_HEADERDATA, unmanaged.toOpaque())
                    if let username = configuration.username {
                        _ = CCurl_setopt_ptr(curl, CURLOPT_USERNAME, username)
                        _ = CCurl_setopt_ptr(curl, CURLOPT_PASSWORD, configuration.password ?? "")
                    }
                    if let caFile = configuration.caFile { _ = CCurl_setopt_ptr(curl, CURLOPT_CAINFO, caFile) }
                    if configuration.insecureSkipVerify {
                        _ = CCurl_setopt_long(curl, CURLOPT_SSL_VERIFYPEER, 0)
                        _ = CCurl_setopt_long(curl, CURLOPT_SSL_VERIFYHOST, 0)
                    }
                    let code = curl_easy_perform(curl)
                    // These point into memory that dies with this call; never leave them set.
                    _ = CCurl_setopt_ptr(curl, CURLOPT_ERRORBUFFER, nil)
                    _ = CCurl_setopt_ptr(curl, CURLOPT_WRITEDATA, nil)
                    _ = CCurl_setopt_ptr(curl, CURLOPT_HEADERDATA, nil)
                    _ = CCurl_setopt_ptr(curl, CURLOPT_POSTFIELDS, nil)
                    _ = CCurl_setopt_ptr(curl, CURLOPT_HTTPHEADER, nil)
                    return code
                }
            }
            guard code == CURLE_OK else {
                let detail = errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
                throw LokiPushError(curlCode: Int(code.rawValue), message: message)
            }
            var status = 0
            _ = CCurl_getinfo_long(curl, CURLINFO_RESPONSE_CODE, &status)
            return LokiResponse(
                status: status, body: String(decoding: capture.body, as: UTF8.self).trimmed,
                retryAfter: capture.retryAfter)
        }
    }
}

/// Collects the response body (bounded) and the `Retry-After` header during one transfer.
private final class ResponseCapture {
    static let bodyLimit = 4096
    var body: [UInt8] = []
    var retryAfter: Duration?
}

/// libcurl write callback: keeps the first ``ResponseCapture/bodyLimit`` bytes of the body.
private func captureBody(
    _ data: UnsafeMutablePointer<CChar>, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?
) -> Int {
    let length = size * count
    guard let context else { return length }
    let capture = Unmanaged<ResponseCapture>.fromOpaque(context).takeUnretainedValue()
    let room = ResponseCapture.bodyLimit - capture.body.count
    if room > 0 {
        data.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
            capture.body.append(contentsOf: UnsafeBufferPointer(start: bytes, count: min(room, length)))
        }
    }
    return length
}

/// libcurl header callback: records `Retry-After` given in seconds (the form Loki and
/// proxies use; an HTTP-date is ignored and the regular backoff applies).
private func captureHeader(
    _ data: UnsafeMutablePointer<CChar>, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?
) -> Int {
    let length = size * count
    guard let context else { return length }
    let line = data.withMemoryRebound(to: UInt8.self, capacity: length) {
        String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
    }
    if let colon = line.firstIndex(of: ":"), line[..<colon].lowercased() == "retry-after" {
        // Delay-seconds is 1*DIGIT (RFC 9110 §10.2.3); anything else ("inf", "1e300", a date) is
        // ignored rather than parsed as a Double that could overflow.
        let value = String(line[line.index(after: colon)...]).trimmed
        if !value.isEmpty, value.utf8.count <= 9, value.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let seconds = Int64(value) {
            Unmanaged<ResponseCapture>.fromOpaque(context).takeUnretainedValue().retryAfter = .seconds(seconds)
        }
    }
    return length
}

extension Duration {
    /// Whole milliseconds, as libcurl's `*_MS` options take them.
    var milliseconds: Int {
        let (seconds, attoseconds) = components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }
}
