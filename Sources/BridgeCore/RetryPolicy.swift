/// How the bridge waits between attempts to push a batch Loki did not accept.
///
/// Delay for attempt `n` (1 = the first retry):
///
///     base(n)  = min(maxBackoff, minBackoff × 2^(n-1))
///     delay(n) = base(n) × (1 - jitter + 2 × jitter × u),  u uniform in [0, 1)
///
/// and, when Loki sent `Retry-After`, `max(delay(n), min(retryAfter, maxRetryAfter))`.
/// With the defaults (500 ms, cap 30 s, jitter 0.2):
///
/// | attempt | base     | range            |
/// |---------|----------|------------------|
/// | 1       | 0.5 s    | 0.4 – 0.6 s      |
/// | 2       | 1 s      | 0.8 – 1.2 s      |
/// | 4       | 4 s      | 3.2 – 4.8 s      |
/// | 7       | 30 s cap | 24 – 36 s        |
///
/// `maxAttempts == nil` retries forever: Kafka is the buffer and lag is the alarm, so the
/// bridge never drops a batch because Loki was unavailable.
package struct RetryPolicy: Sendable, Equatable {
    /// Delay before the first retry.
    package var minBackoff: Duration
    /// Largest delay between retries.
    package var maxBackoff: Duration
    /// Relative jitter in [0, 1): spreads retries of many replicas apart.
    package var jitter: Double
    /// Largest `Retry-After` honoured, guarding against absurd values.
    package var maxRetryAfter: Duration
    /// Attempts after which a retriable failure becomes permanent; `nil` = never.
    package var maxAttempts: Int?

    /// Creates a policy; defaults as documented above.
    package init(
        minBackoff: Duration = .milliseconds(500), maxBackoff: Duration = .seconds(30), jitter: Double = 0.2,
        maxRetryAfter: Duration = .seconds(300), maxAttempts: Int? = nil
    ) {
        self.minBackoff = minBackoff
        self.maxBackoff = maxBackoff
        self.jitter = jitter
        self.maxRetryAfter = maxRetryAfter
        self.maxAttempts = maxAttempts
    }

    /// The delay before retry number `attempt` (1-based).
    package func delay(
        attempt: Int, retryAfter: Duration? = nil, using generator: inout some RandomNumberGenerator
    ) -> Duration {
        let exponent = Double(min(max(attempt, 1) - 1, 62))
        let base = min(maxBackoff.seconds, minBackoff.seconds * pow2(exponent))
        let factor = 1 - jitter + 2 * jitter * Double.random(in: 0..<1, using: &generator)
        var delay = base * factor
        if let retryAfter { delay = max(delay, min(retryAfter.seconds, maxRetryAfter.seconds)) }
        return .nanoseconds(Int64(delay * 1e9))
    }

    /// Whether another attempt is allowed after `attempts` failed ones.
    package func shouldRetry(afterAttempts attempts: Int) -> Bool {
        guard let maxAttempts else { return true }
        return attempts < maxAttempts
    }

    private func pow2(_ exponent: Double) -> Double {
        var value = 1.0
        for _ in 0..<Int(exponent) {
            value *= 2
            if value > 1e12 { break }
        }
        return value
    }
}

/// What to do with the answer Loki gave to a push.
package enum PushDisposition: Sendable, Equatable {
    /// Loki accepted the batch (2xx).
    case accepted
    /// Try again later: 429, 5xx, timeouts and transport errors.
    case retry
    /// Loki will never accept this batch as it is (4xx other than 429).
    case permanent

    /// Classifies an HTTP status code; `nil` means the request failed before an answer.
    package static func classify(status: Int?) -> PushDisposition {
        guard let status else { return .retry }
        switch status {
        case 200..<300: return .accepted
        case 429, 408: return .retry
        case _ where isConfigurationProblem(status): return .retry
        case 400..<500: return .permanent
        default: return .retry  // 5xx, and 1xx/3xx that a push never legitimately gets
        }
    }

    /// 4xx answers that say the bridge is set up wrong, not that the data is bad: credentials
    /// or tenant (401, 403, 407), the URL (404, 405, 421), a proxy's body limit (413). Every
    /// batch would get them, so treating them as permanent would mark the whole topic done
    /// without a line reaching Loki; they are retried (lag grows and alerts) until fixed.
    package static func isConfigurationProblem(_ status: Int) -> Bool {
        [401, 403, 404, 405, 407, 413, 421].contains(status)
    }
}

extension Duration {
    /// The duration in seconds as a floating-point value.
    package var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
