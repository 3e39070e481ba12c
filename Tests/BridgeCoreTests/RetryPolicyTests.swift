import BridgeCore
import Testing

@Suite("RetryPolicy and PushDisposition")
struct RetryPolicyTests {
    @Test func delaysDoubleAndCapWithoutJitter() {
        let policy = RetryPolicy(minBackoff: .milliseconds(500), maxBackoff: .seconds(30), jitter: 0)
        var random = SplitMix64(seed: 1)
        let delays = (1...9).map { policy.delay(attempt: $0, using: &random) }
        let expected: [Duration] = [
            .milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16), .seconds(30),
            .seconds(30), .seconds(30),
        ]
        #expect(delays == expected)
        #expect(policy.delay(attempt: 0, using: &random) == .milliseconds(500), "attempt 0 counts as the first")
        #expect(policy.delay(attempt: 10_000, using: &random) == .seconds(30), "huge attempts stay capped")
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func jitterStaysWithinBoundsAndVaries(seed: UInt64) {
        let policy = RetryPolicy(minBackoff: .milliseconds(500), maxBackoff: .seconds(30), jitter: 0.2)
        var random = SplitMix64(seed: seed)
        for (attempt, base) in [(1, 0.5), (2, 1.0), (4, 4.0), (7, 30.0), (20, 30.0)] {
            let samples = (0..<500).map { _ in policy.delay(attempt: attempt, using: &random).seconds }
            let low = samples.min()!
            let high = samples.max()!
            #expect(low >= base * 0.8 - 1e-9, "attempt \(attempt)")
            #expect(high <= base * 1.2 + 1e-9, "attempt \(attempt)")
            // Spread over the range, on both sides of the base.
            #expect(low < base * 0.85, "attempt \(attempt)")
            #expect(high > base * 1.15, "attempt \(attempt)")
        }
    }

    @Test func sameSeedGivesSameDelays() {
        let policy = RetryPolicy()
        var first = SplitMix64(seed: 42)
        var second = SplitMix64(seed: 42)
        let a = (1...10).map { policy.delay(attempt: $0, using: &first) }
        let b = (1...10).map { policy.delay(attempt: $0, using: &second) }
        #expect(a == b)
    }

    @Test func retryAfterRaisesTheDelayButIsCapped() {
        let policy = RetryPolicy(
            minBackoff: .milliseconds(500),
            maxBackoff: .seconds(30),
            jitter: 0,
            maxRetryAfter: .seconds(60)
        )
        var random = SplitMix64(seed: 7)
        #expect(policy.delay(attempt: 1, retryAfter: .seconds(3), using: &random) == .seconds(3))
        #expect(policy.delay(attempt: 1, retryAfter: .seconds(3600), using: &random) == .seconds(60))
        #expect(
            policy.delay(attempt: 5, retryAfter: .seconds(1), using: &random) == .seconds(8),
            "shorter Retry-After does not lower it"
        )
        #expect(policy.delay(attempt: 1, retryAfter: .zero, using: &random) == .milliseconds(500))
    }

    @Test func maxAttempts() {
        let limited = RetryPolicy(maxAttempts: 3)
        #expect((1...4).map { limited.shouldRetry(afterAttempts: $0) } == [true, true, false, false])
        let forever = RetryPolicy()
        #expect(forever.maxAttempts == nil)
        #expect(forever.shouldRetry(afterAttempts: 1_000_000))
    }

    @Test func defaultsMatchTheDocumentation() {
        let policy = RetryPolicy()
        #expect(policy.minBackoff == .milliseconds(500))
        #expect(policy.maxBackoff == .seconds(30))
        #expect(policy.jitter == 0.2)
        #expect(policy.maxRetryAfter == .seconds(300))
    }

    @Test(arguments: [
        (Int?.some(200), PushDisposition.accepted), (204, .accepted), (299, .accepted),
        (400, .permanent), (401, .retry), (403, .retry), (404, .retry), (413, .retry), (422, .permanent), (409, .permanent),
        (422, .permanent),
        (408, .retry), (429, .retry), (500, .retry), (502, .retry), (503, .retry), (504, .retry),
        (100, .retry), (302, .retry), (nil, .retry),
    ])
    func classifiesStatusCodes(status: Int?, disposition: PushDisposition) {
        #expect(PushDisposition.classify(status: status) == disposition)
    }
}
