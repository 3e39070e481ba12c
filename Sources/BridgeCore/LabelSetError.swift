/// Why a stream's label text is refused, as ``LabelSetParser`` finds it.
///
/// ``description`` is the precise explanation (with the byte offset for syntax problems);
/// ``lokiMessage(labels:)`` renders the message Loki's distributor would answer, with the
/// format strings of grafana/loki `pkg/validation/validate.go`.
package enum LabelSetError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The text is not a Prometheus label set (`{name="value", …}`); `offset` is the byte where
    /// parsing stopped.
    case syntax(offset: Int, detail: String)
    /// A label name outside Prometheus' syntax `[a-zA-Z_][a-zA-Z0-9_]*` (or an empty quoted name).
    case invalidName(offset: Int, name: String)
    /// Bytes that are not UTF-8 (or that Prometheus' lexer refuses, see ``LabelSetParser``).
    case invalidUTF8(offset: Int, detail: String)
    /// No label with a non-empty value (Loki: `missing_labels`).
    case empty
    /// More label names than allowed; `count` excludes `service_name`, as Loki counts.
    case tooManyNames(count: Int, limit: Int)
    /// A label name longer than allowed, in bytes.
    case nameTooLong(name: String, length: Int, limit: Int)
    /// A label value longer than allowed, in bytes.
    case valueTooLong(name: String, value: String, length: Int, limit: Int)
    /// The same label name twice.
    case duplicateName(String)

    /// The bounded kind of a ``LabelSetError``, without its details.
    package enum Kind: String, Sendable, Hashable, CaseIterable {
        /// ``LabelSetError/syntax(offset:detail:)``.
        case syntax
        /// ``LabelSetError/invalidName(offset:name:)``.
        case invalidName
        /// ``LabelSetError/invalidUTF8(offset:detail:)``.
        case invalidUTF8
        /// ``LabelSetError/empty``.
        case empty
        /// ``LabelSetError/tooManyNames(count:limit:)``.
        case tooManyNames
        /// ``LabelSetError/nameTooLong(name:length:limit:)``.
        case nameTooLong
        /// ``LabelSetError/valueTooLong(name:value:length:limit:)``.
        case valueTooLong
        /// ``LabelSetError/duplicateName(_:)``.
        case duplicateName

        /// Loki's discard reason for this kind (the `reason` label of
        /// `loki_discarded_samples_total`): `invalid_labels`, `missing_labels`,
        /// `max_label_names_per_series`, `label_name_too_long`, `label_value_too_long`,
        /// `duplicate_label_names`.
        package var lokiReason: String {
            switch self {
            case .syntax, .invalidName, .invalidUTF8: "invalid_labels"
            case .empty: "missing_labels"
            case .tooManyNames: "max_label_names_per_series"
            case .nameTooLong: "label_name_too_long"
            case .valueTooLong: "label_value_too_long"
            case .duplicateName: "duplicate_label_names"
            }
        }
    }

    /// The error's kind.
    package var kind: Kind {
        switch self {
        case .syntax: .syntax
        case .invalidName: .invalidName
        case .invalidUTF8: .invalidUTF8
        case .empty: .empty
        case .tooManyNames: .tooManyNames
        case .nameTooLong: .nameTooLong
        case .valueTooLong: .valueTooLong
        case .duplicateName: .duplicateName
        }
    }

    /// A precise, human explanation.
    package var description: String {
        switch self {
        case .syntax(let offset, let detail):
            "byte \(offset): \(detail)"
        case .invalidName(let offset, let name):
            "byte \(offset): invalid label name '\(name)': names must match [a-zA-Z_][a-zA-Z0-9_]* "
                + "(or be a non-empty quoted string)"
        case .invalidUTF8(let offset, let detail):
            "byte \(offset): \(detail)"
        case .empty:
            "no label with a non-empty value"
        case .tooManyNames(let count, let limit):
            "\(count) label names, limit \(limit)"
        case .nameTooLong(let name, let length, let limit):
            "label name '\(name)' is \(length) bytes long, limit \(limit)"
        case .valueTooLong(let name, _, let length, let limit):
            "value of label '\(name)' is \(length) bytes long, limit \(limit)"
        case .duplicateName(let name):
            "duplicate label name '\(name)'"
        }
    }

    /// The message Loki's distributor answers for this error on a stream with label text
    /// `labels` (`InvalidLabelsErrorMsg`, `MissingLabelsErrorMsg`,
    /// `MaxLabelNamesPerSeriesErrorMsg`, `LabelNameTooLongErrorMsg`, `LabelValueTooLongErrorMsg`,
    /// `DuplicateLabelNamesErrorMsg` in grafana/loki `pkg/validation/validate.go`).
    package func lokiMessage(labels: String) -> String {
        switch self {
        case .syntax, .invalidName, .invalidUTF8:
            "Error parsing labels '\(labels)' with error: \(description)"
        case .empty:
            "error at least one label pair is required per stream"
        case .tooManyNames(let count, let limit):
            "entry for stream '\(labels)' has \(count) label names; limit \(limit)"
        case .nameTooLong(let name, _, _):
            "stream '\(labels)' has label name too long: '\(name)'"
        case .valueTooLong(_, let value, _, _):
            "stream '\(labels)' has label value too long: '\(value)'"
        case .duplicateName(let name):
            "stream '\(labels)' has duplicate label name: '\(name)'"
        }
    }
}
