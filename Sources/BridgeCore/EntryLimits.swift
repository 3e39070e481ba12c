/// The per-entry and per-stream limits Loki's distributor enforces, checked by the bridge before
/// a push so that Loki never answers 400 for data the bridge could have handled itself.
///
/// The defaults are Loki's own (`limits_config`, registered in `Limits.RegisterFlags`,
/// grafana/loki `pkg/validation/limits.go`):
///
/// | Field | Loki setting (flag) | Loki default | Here |
/// |---|---|---|---|
/// | ``rejectOldSamples`` | `reject_old_samples` (`-validation.reject-old-samples`) | `true` | `true` |
/// | ``maxAge`` | `reject_old_samples_max_age` (`-validation.reject-old-samples.max-age`) | `7d` | 168 h |
/// | ``creationGracePeriod`` | `creation_grace_period` (`-validation.create-grace-period`) | `10m` | 10 min |
/// | ``maxLineBytes`` | `max_line_size` (`-distributor.max-line-size`) | `256KB` = 262 144 bytes | 262 144 |
/// | ``oversizePolicy`` | `max_line_size_truncate` (`-distributor.max-line-size-truncate`) | `false` (reject) | ``OversizePolicy/truncate`` |
/// | ``maxLabelNamesPerSeries`` | `max_label_names_per_series` (`-validation.max-label-names-per-series`) | 15 | 15 |
/// | ``maxLabelNameLength`` | `max_label_name_length` (`-validation.max-length-label-name`) | 1024 | 1024 |
/// | ``maxLabelValueLength`` | `max_label_value_length` (`-validation.max-length-label-value`) | 2048 | 2048 |
/// | ``allowStructuredMetadata`` | `allow_structured_metadata` (`-validation.allow-structured-metadata`) | `true` | `true` |
/// | ``maxStructuredMetadataBytes`` | `max_structured_metadata_size` (`-limits.max-structured-metadata-size`) | `64kb` = 65 536 bytes | 65 536 |
/// | ``maxStructuredMetadataEntries`` | `max_structured_metadata_entries_count` (`-limits.max-structured-metadata-entries-count`) | 128 | 128 |
///
/// Sizes: Loki parses `max_line_size` and `max_structured_metadata_size` as `flagext.ByteSize`
/// (`pkg/util/flagext/bytesize.go`), which upper-cases the text and hands it to
/// `github.com/c2h5oh/datasize`, where `KB = B << 10`: Loki's "256KB" is 256 × 1024 bytes and
/// "64kb" is 64 × 1024 bytes. Lengths are Go `len()` of the string, i.e. UTF-8 bytes.
///
/// How Loki applies them (grafana/loki `pkg/distributor/validator.go`, `ValidateEntry` and
/// `ValidateLabels`; `pkg/distributor/distributor.go`, `truncateLines` and `parseStreamLabels`):
/// - Lines over `max_line_size` are truncated first when `max_line_size_truncate` is on (Loki
///   cuts at the byte limit; the bridge cuts at the last UTF-8 character boundary at or below it).
/// - An entry is too old when `timestamp < now − reject_old_samples_max_age` and too new when
///   `timestamp > now + creation_grace_period`; both bounds are inclusive-valid.
/// - Then line size, then structured metadata (allowed, total `len(name)+len(value)` without the
///   `detected_level` pair, count).
/// - Labels are parsed once per stream; a stream whose labels fail loses all its entries.
///   The `service_name` label is not counted against `max_label_names_per_series`.
///
/// A zero ``maxLineBytes``, ``maxStructuredMetadataBytes`` or ``maxStructuredMetadataEntries``
/// means "no limit", as in Loki.
///
/// - Important: ``oversizePolicy`` defaults to ``OversizePolicy/truncate``, unlike Loki
///   (whose default rejects): a truncated line still reaches Loki, a rejected one only the
///   dead-letter topic. Set the Loki side's `max_line_size` here, or the bridge and Loki disagree.
package struct EntryLimits: Sendable, Equatable {
    /// What to do with a line longer than ``EntryLimits/maxLineBytes``.
    package enum OversizePolicy: String, Sendable, Equatable, CaseIterable {
        /// Cut the line to the limit at a UTF-8 character boundary and push it
        /// (Loki's `max_line_size_truncate: true`).
        case truncate
        /// Reject the entry with reason `line_too_long` (Loki's default).
        case reject
    }

    /// Reject entries older than ``maxAge`` (Loki `reject_old_samples`, default `true`).
    package var rejectOldSamples: Bool
    /// Oldest accepted age of an entry relative to now (Loki `reject_old_samples_max_age`, `7d`).
    package var maxAge: Duration
    /// How far in the future an entry may be (Loki `creation_grace_period`, `10m`).
    package var creationGracePeriod: Duration
    /// Longest line in UTF-8 bytes, `0` for no limit (Loki `max_line_size`, `256KB` = 262 144).
    package var maxLineBytes: Int
    /// Truncate or reject lines over ``maxLineBytes``.
    package var oversizePolicy: OversizePolicy
    /// Most label names per stream, `service_name` not counted (Loki `max_label_names_per_series`, 15).
    package var maxLabelNamesPerSeries: Int
    /// Longest label name in bytes (Loki `max_label_name_length`, 1024).
    package var maxLabelNameLength: Int
    /// Longest label value in bytes (Loki `max_label_value_length`, 2048).
    package var maxLabelValueLength: Int
    /// Whether entries may carry structured metadata (Loki `allow_structured_metadata`, `true`).
    package var allowStructuredMetadata: Bool
    /// Largest structured metadata per entry in bytes, names plus values, `0` for no limit
    /// (Loki `max_structured_metadata_size`, `64kb` = 65 536).
    package var maxStructuredMetadataBytes: Int
    /// Most structured metadata pairs per entry, `0` for no limit
    /// (Loki `max_structured_metadata_entries_count`, 128).
    package var maxStructuredMetadataEntries: Int

    /// Creates limits; every default is Loki's, except ``oversizePolicy`` (see the type's note).
    package init(
        rejectOldSamples: Bool = true,
        maxAge: Duration = .seconds(168 * 3600),
        creationGracePeriod: Duration = .seconds(10 * 60),
        maxLineBytes: Int = 256 * 1024,
        oversizePolicy: OversizePolicy = .truncate,
        maxLabelNamesPerSeries: Int = 15,
        maxLabelNameLength: Int = 1024,
        maxLabelValueLength: Int = 2048,
        allowStructuredMetadata: Bool = true,
        maxStructuredMetadataBytes: Int = 64 * 1024,
        maxStructuredMetadataEntries: Int = 128
    ) {
        self.rejectOldSamples = rejectOldSamples
        self.maxAge = maxAge
        self.creationGracePeriod = creationGracePeriod
        self.maxLineBytes = maxLineBytes
        self.oversizePolicy = oversizePolicy
        self.maxLabelNamesPerSeries = maxLabelNamesPerSeries
        self.maxLabelNameLength = maxLabelNameLength
        self.maxLabelValueLength = maxLabelValueLength
        self.allowStructuredMetadata = allowStructuredMetadata
        self.maxStructuredMetadataBytes = maxStructuredMetadataBytes
        self.maxStructuredMetadataEntries = maxStructuredMetadataEntries
    }

    /// `duration` in whole nanoseconds, saturating at the `Int64` bounds.
    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, carry) = product.addingReportingOverflow(attoseconds / 1_000_000_000)
        if carry { return product < 0 ? .min : .max }
        return sum
    }
}
