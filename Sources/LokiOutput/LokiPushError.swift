/// A push that failed before Loki answered: connection refused, timeout, TLS, DNS.
///
/// Loki's own answers (any status) are not errors but ``LokiResponse``s; this type covers the
/// transport, wrapping libcurl's code so callers never import the C module.
package struct LokiPushError: Error, Sendable, CustomStringConvertible {
    /// libcurl's `CURLcode` value.
    package var curlCode: Int
    /// libcurl's explanation (from `CURLOPT_ERRORBUFFER` when set, else `curl_easy_strerror`).
    package var message: String
    /// Source location that raised the error.
    package var location: String

    /// Creates an error.
    package init(curlCode: Int, message: String, fileID: String = #fileID, line: Int = #line) {
        self.curlCode = curlCode
        self.message = message
        self.location = "\(fileID):\(line)"
    }

    /// Transport failures are always worth retrying: Loki may come back.
    package var isRetriable: Bool { true }

    /// Bounded category for the `status_code` metric label: `timeout`, `connect` or `transport`.
    package var category: String {
        switch curlCode {
        case 28: return "timeout"  // CURLE_OPERATION_TIMEDOUT
        case 6, 7: return "connect"  // CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT
        default: return "transport"
        }
    }

    package var description: String { "curl error \(curlCode): \(message)" }
}

/// Loki's answer to a push.
package struct LokiResponse: Sendable, Equatable {
    /// HTTP status code.
    package var status: Int
    /// Response body (Loki's message), truncated to a few KiB.
    package var body: String
    /// `Retry-After` in seconds when present.
    package var retryAfter: Duration?

    /// Creates a response.
    package init(status: Int, body: String, retryAfter: Duration? = nil) {
        self.status = status
        self.body = body
        self.retryAfter = retryAfter
    }
}
