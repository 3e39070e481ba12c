/// Which dead letters `dlq replay` takes: by tenant, reason and first-failure time.
///
/// Every set criterion must match; an empty criterion matches everything. Records without
/// `x-dlq-*` headers (not written by the bridge) match only when no criterion is set.
package struct DeadLetterFilter: Sendable, Equatable {
    /// Tenants to take (`x-dlq-tenant`); empty = all.
    package var tenants: Set<String> = []
    /// Reasons to take (`x-dlq-reason`); empty = all.
    package var reasons: Set<String> = []
    /// Earliest first failure, milliseconds since the epoch (inclusive).
    package var sinceMillis: Int64?
    /// Latest first failure, milliseconds since the epoch (exclusive).
    package var untilMillis: Int64?

    /// Creates a filter.
    package init(tenants: Set<String> = [], reasons: Set<String> = [], sinceMillis: Int64? = nil, untilMillis: Int64? = nil) {
        self.tenants = tenants
        self.reasons = reasons
        self.sinceMillis = sinceMillis
        self.untilMillis = untilMillis
    }

    /// Whether `record` (a dead letter) is selected.
    package func matches(_ record: KafkaRecord) -> Bool {
        if !tenants.isEmpty {
            guard let tenant = record.header(DeadLetter.Header.tenant), tenants.contains(tenant) else { return false }
        }
        if !reasons.isEmpty {
            guard let reason = record.header(DeadLetter.Header.reason), reasons.contains(reason) else { return false }
        }
        if sinceMillis != nil || untilMillis != nil {
            guard let text = record.header(DeadLetter.Header.firstFailure), let nanos = RFC3339.parseNanos(text) else {
                return false
            }
            let millis = nanos / 1_000_000
            if let sinceMillis, millis < sinceMillis { return false }
            if let untilMillis, millis >= untilMillis { return false }
        }
        return true
    }
}
