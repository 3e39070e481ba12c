/// Parses and validates a stream's labels in Loki's text form, `{app="api", env="prod"}`,
/// byte by byte (no regular expressions, no `Foundation`).
///
/// Loki's distributor reads the labels of each pushed stream with `syntax.ParseLabels`
/// (grafana/loki `pkg/logql/syntax/parser.go`), which is Prometheus' `ParseMetric`
/// (prometheus/prometheus `promql/parser/lex.go` and `generated_parser.y`) followed by dropping
/// labels with an empty value, then checks them in `Validator.ValidateLabels`
/// (`pkg/distributor/validator.go`). This parser accepts the same language:
///
/// - An optional metric name `[a-zA-Z_:][a-zA-Z0-9_:]*` before the braces, read as `__name__`;
///   the braces may be left out after it. Spaces, tabs, CR, LF and `#` comments (to the end of
///   the line) may appear between tokens.
/// - `{` *item* (`,` *item*)* [`,`] `}`, or `{}`: one trailing comma is allowed, as in
///   Prometheus' grammar (`LEFT_BRACE label_set_list COMMA RIGHT_BRACE`); `{,}` is not.
/// - An item is *name* `=` *string*. Only `=`: `!=`, `=~` and `!~` are selector matchers, not
///   labels. A name is `[a-zA-Z_][a-zA-Z0-9_]*` (so `__name__`-style names are fine and names
///   starting with a digit are not), or a quoted string (Prometheus 3 UTF-8 names such as
///   `"service.name"`); a lone quoted string is a metric name.
/// - Strings are `"…"`, `'…'` or `` `…` `` (raw). The first two take Go escapes: `\a \b \f \n \r
///   \t \v \\`, the enclosing quote, `\ooo` (octal, ≤ 255), `\xHH`, `\uHHHH`, `\UHHHHHHHH` (no
///   surrogates, ≤ U+10FFFF); a raw newline ends them with an error. Raw strings take no escapes.
/// - Text must be UTF-8. Like Prometheus' lexer (which compares each decoded rune with
///   `utf8.RuneError`), a literal U+FFFD inside a string is refused; the escape `\uFFFD` is fine.
///   Escapes that produce bytes (`\xff`, `\377`) must still leave the value valid UTF-8.
///
/// Then, as Loki: a label whose value is empty is dropped together with every other label of
/// the same name; no label left → ``LabelSetError/empty``; streams carrying
/// `__aggregated_metric__` or `__pattern__` (Loki's internal streams) skip the remaining checks;
/// more than ``EntryLimits/maxLabelNamesPerSeries`` names (`service_name` not counted) →
/// ``LabelSetError/tooManyNames(count:limit:)``; then, in name order, a name or value too long
/// (bytes) or a name repeated → the matching error.
package enum LabelSetParser {
    /// Buffers reused across calls, so that validating many streams does not allocate once
    /// they have grown to the largest label set seen.
    package struct Scratch: Sendable {
        /// Decoded names and values, back to back.
        var bytes: [UInt8] = []
        /// The labels in written order.
        var labels: [ParsedLabel] = []
        /// Label indices sorted by name.
        var order: [Int] = []

        /// Creates empty buffers.
        package init() {}
    }

    /// One label, as ranges of ``Scratch/bytes``.
    struct ParsedLabel: Sendable {
        var name: Range<Int>
        var value: Range<Int>
        var dropped = false
    }

    /// Parses and validates `text`.
    ///
    /// - Parameters:
    ///   - text: the label text, e.g. `{app="api", msg="say \"hi\""}`.
    ///   - limits: the label limits to apply.
    /// - Returns: the labels in written order, without the ones Loki drops (empty values).
    /// - Throws: ``LabelSetError`` for the first problem found, in Loki's order.
    package static func parse(
        _ text: String,
        limits: EntryLimits = EntryLimits()
    ) throws(LabelSetError) -> [(String, String)] {
        var scratch = Scratch()
        try validate(text, limits: limits, scratch: &scratch)
        var pairs: [(String, String)] = []
        pairs.reserveCapacity(scratch.labels.count)
        for label in scratch.labels where !label.dropped {
            pairs.append(
                (
                    String(decoding: scratch.bytes[label.name], as: UTF8.self),
                    String(decoding: scratch.bytes[label.value], as: UTF8.self)
                )
            )
        }
        return pairs
    }

    /// Validates `text` without building strings, reusing `scratch`.
    ///
    /// - Throws: ``LabelSetError`` for the first problem found, in Loki's order.
    package static func validate(
        _ text: String,
        limits: EntryLimits,
        scratch: inout Scratch
    ) throws(LabelSetError) {
        var text = text
        let result: Result<Void, LabelSetError> = text.withUTF8 { buffer in
            Result { () throws(LabelSetError) in try validate(buffer, limits: limits, scratch: &scratch) }
        }
        try result.get()
    }

    /// Validates the UTF-8 (or not) bytes `input` without building strings, reusing `scratch`.
    ///
    /// - Throws: ``LabelSetError`` for the first problem found, in Loki's order.
    package static func validate(
        _ input: UnsafeBufferPointer<UInt8>,
        limits: EntryLimits,
        scratch: inout Scratch
    ) throws(LabelSetError) {
        var parser = LabelTextParser(input: input)
        swap(&parser.scratch, &scratch)
        defer { swap(&parser.scratch, &scratch) }
        try parser.run()
        try parser.check(limits)
    }
}
