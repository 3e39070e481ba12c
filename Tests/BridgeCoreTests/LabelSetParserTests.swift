import BridgeCore
import Testing

@Suite("LabelSetParser: Loki's label text, Prometheus syntax, Loki's label limits")
struct LabelSetParserTests {
    struct Valid: Sendable, CustomTestStringConvertible {
        var text: String
        var labels: [LabelPair]
        var testDescription: String { text.debugDescription }

        init(_ text: String, _ labels: [(String, String)]) {
            self.text = text
            self.labels = labels.map { LabelPair(name: $0.0, value: $0.1) }
        }
    }

    static let valid: [Valid] = [
        Valid(#"{a="1"}"#, [("a", "1")]),
        Valid(#"{app="api", env="prod"}"#, [("app", "api"), ("env", "prod")]),
        Valid(#"{ a = "1" ,b="2" }"#, [("a", "1"), ("b", "2")]),
        Valid(#"{a="1",}"#, [("a", "1")]),
        Valid(#"{a="1", b="2" , }"#, [("a", "1"), ("b", "2")]),
        Valid("\n{\n\ta=\"1\",\r\n  b=\"2\"\n}\n", [("a", "1"), ("b", "2")]),
        Valid("{a=\"1\" # a comment, b=\"no\"\n, b=\"2\"} # trailing comment", [("a", "1"), ("b", "2")]),
        // Escapes, as Go's strconv.Unquote reads them.
        Valid(#"{a="x\"y"}"#, [("a", "x\"y")]),
        Valid(#"{a="\a\b\f\n\r\t\v\\"}"#, [("a", "\u{07}\u{08}\u{0C}\n\r\t\u{0B}\\")]),
        Valid(#"{a="\x41\101\u00e9\U0001F600"}"#, [("a", "AAé😀")]),
        Valid(#"{a="\xc3\xa9"}"#, [("a", "é")]),
        Valid(#"{a="\uFFFD"}"#, [("a", "\u{FFFD}")]),
        Valid(#"{a='say "hi"', b='it\'s'}"#, [("a", #"say "hi""#), ("b", "it's")]),
        Valid(#"{a=`C:\temp\n`}"#, [("a", #"C:\temp\n"#)]),
        Valid("{a=`two\nlines`}", [("a", "two\nlines")]),
        // Names.
        Valid(#"{__name__="up", job="node"}"#, [("__name__", "up"), ("job", "node")]),
        Valid(#"{_x="1", A9_b="2", by="3", sum="4"}"#, [("_x", "1"), ("A9_b", "2"), ("by", "3"), ("sum", "4")]),
        Valid(#"{a="1", A="2"}"#, [("a", "1"), ("A", "2")]),
        Valid(#"{"service.name"="api", "日本"="x"}"#, [("service.name", "api"), ("日本", "x")]),
        Valid(#"up{job="node"}"#, [("__name__", "up"), ("job", "node")]),
        Valid(#"ns:requests:rate5m {a="1"}"#, [("__name__", "ns:requests:rate5m"), ("a", "1")]),
        Valid("up", [("__name__", "up")]),
        Valid(#"{"my.metric", a="1"}"#, [("__name__", "my.metric"), ("a", "1")]),
        // Values.
        Valid(#"{a="ünïcödé 日本語 🎉", b="tab\there"}"#, [("a", "ünïcödé 日本語 🎉"), ("b", "tab\there")]),
        Valid(#"{a="=,{}#'`"}"#, [("a", "=,{}#'`")]),
        // Empty values are dropped, with every label of that name (Loki's ParseLabels).
        Valid(#"{a="1", b=""}"#, [("a", "1")]),
        Valid(#"{a="", a="1", b="2"}"#, [("b", "2")]),
    ]

    @Test(arguments: valid)
    func parsesValidLabelSets(_ example: Valid) throws {
        let labels = try LabelSetParser.parse(example.text)
        #expect(labels.map { LabelPair(name: $0.0, value: $0.1) } == example.labels)
    }

    struct Invalid: Sendable, CustomTestStringConvertible {
        var text: String
        var kind: LabelSetError.Kind
        var testDescription: String { "\(kind): \(text.prefix(60).debugDescription)" }

        init(_ text: String, _ kind: LabelSetError.Kind) {
            self.text = text
            self.kind = kind
        }
    }

    static let invalid: [Invalid] = [
        Invalid("", .empty),
        Invalid("   ", .empty),
        Invalid("{}", .empty),
        Invalid("{ }", .empty),
        Invalid(#"{a=""}"#, .empty),
        Invalid(#"{a="", a="1"}"#, .empty),
        Invalid("{", .syntax),
        Invalid(#"{a="1""#, .syntax),
        Invalid(#"{a="1}"#, .syntax),
        Invalid(#"{a="1"}}"#, .syntax),
        Invalid(#"{a="1"} x"#, .syntax),
        Invalid(#"{a="1"}{b="2"}"#, .syntax),
        Invalid("{,}", .syntax),
        Invalid(#"{,a="1"}"#, .syntax),
        Invalid(#"{a="1",,b="2"}"#, .syntax),
        Invalid(#"{a="1",,}"#, .syntax),
        Invalid(#"{a="1" b="2"}"#, .syntax),
        Invalid("{a=1}", .syntax),
        Invalid("{a}", .syntax),
        Invalid(#"{="1"}"#, .syntax),
        Invalid(#"{a!="1"}"#, .syntax),
        Invalid(#"{a=~"1"}"#, .syntax),
        Invalid(#"{a!~"1"}"#, .syntax),
        Invalid(#"a="1""#, .syntax),
        Invalid(#"{a="x\qy"}"#, .syntax),
        Invalid(#"{a='x\"y'}"#, .syntax),
        Invalid(#"{a="x\'y"}"#, .syntax),
        Invalid(#"{a="\uD800"}"#, .syntax),
        Invalid(#"{a="\U00110000"}"#, .syntax),
        Invalid(#"{a="\400"}"#, .syntax),
        Invalid(#"{a="\x4"}"#, .syntax),
        Invalid(#"{a="\x4g"}"#, .syntax),
        Invalid(#"{a="\"#, .syntax),
        Invalid("{a=\"two\nlines\"}", .syntax),
        Invalid("{a=`unterminated}", .syntax),
        Invalid("{a=\"1\" # comment to the end}", .syntax),
        Invalid(#"{1a="x"}"#, .invalidName),
        Invalid(#"{a.b="x"}"#, .invalidName),
        Invalid(#"{a-b="x"}"#, .invalidName),
        Invalid(#"{a:b="x"}"#, .invalidName),
        Invalid(#"{é="x"}"#, .invalidName),
        Invalid(#"{""="x"}"#, .invalidName),
        Invalid(#"up.time{a="1"}"#, .invalidName),
        Invalid(#"{a="\xff"}"#, .invalidUTF8),
        Invalid(#"{a="\xc3"}"#, .invalidUTF8),
        Invalid(#"{a="\355\240\200"}"#, .invalidUTF8),
        Invalid("{a=\"replacement \u{FFFD} char\"}", .invalidUTF8),
        Invalid(#"{a="1", a="2"}"#, .duplicateName),
        Invalid(#"{b="1", a="2", b="3"}"#, .duplicateName),
        Invalid(#"up{__name__="down"}"#, .duplicateName),
    ]

    @Test(arguments: invalid)
    func refusesInvalidLabelSets(_ example: Invalid) {
        let error = #expect(throws: LabelSetError.self) { try LabelSetParser.parse(example.text) }
        #expect(error?.kind == example.kind, "\(String(describing: error))")
    }

    struct Exact: Sendable, CustomTestStringConvertible {
        var text: String
        var error: LabelSetError
        var testDescription: String { text.debugDescription }
    }

    static let exact: [Exact] = [
        Exact(text: #"{1a="x"}"#, error: .invalidName(offset: 1, name: "1a")),
        Exact(text: #"{a="1", b.c="x"}"#, error: .invalidName(offset: 8, name: "b.c")),
        Exact(text: #"{a="1""#, error: .syntax(offset: 6, detail: "unexpected end of input inside braces")),
        Exact(text: #"{a="1", a="2"}"#, error: .duplicateName("a")),
        Exact(text: #"{a="1", a=""}"#, error: .empty),
        Exact(
            text: #"{a=~"1"}"#,
            error: .syntax(offset: 2, detail: "matcher '=~' after label name 'a': a stream's labels only take '='")
        ),
        Exact(
            text: #"{a="1" b="2"}"#,
            error: .syntax(offset: 7, detail: "unexpected 'b' in label set, expected ',' or '}'")
        ),
    ]

    @Test(arguments: exact)
    func reportsWhereAndWhat(_ example: Exact) {
        #expect(throws: example.error) { try LabelSetParser.parse(example.text) }
    }

    @Test func refusesInvalidUTF8Bytes() {
        let cases: [([UInt8], LabelSetError)] = [
            (Array(#"{a=""#.utf8) + [0xFF] + Array(#""}"#.utf8), .invalidUTF8(offset: 4, detail: "")),
            (Array(#"{a=""#.utf8) + [0xC0, 0xAF] + Array(#""}"#.utf8), .invalidUTF8(offset: 4, detail: "")),
            (Array(#"{a=""#.utf8) + [0xE2, 0x82] + Array(#""}"#.utf8), .invalidUTF8(offset: 4, detail: "")),
            ([0x7B, 0xFF] + Array(#"="x"}"#.utf8), .invalidUTF8(offset: 1, detail: "")),
        ]
        var scratch = LabelSetParser.Scratch()
        for (bytes, expected) in cases {
            let error = #expect(throws: LabelSetError.self, "\(bytes)") {
                try bytes.withUnsafeBufferPointer { (buffer) throws(LabelSetError) in
                    try LabelSetParser.validate(buffer, limits: EntryLimits(), scratch: &scratch)
                }
            }
            guard case .invalidUTF8(let offset, _)? = error, case .invalidUTF8(let want, _) = expected else {
                Issue.record("\(bytes): \(String(describing: error))")
                continue
            }
            #expect(offset == want)
        }
    }

    // MARK: Limits

    static func labels(_ count: Int, extra: String = "") -> String {
        "{" + (0..<count).map { #"l\#($0)="v""# }.joined(separator: ", ") + extra + "}"
    }

    struct Limit: Sendable, CustomTestStringConvertible {
        var name: String
        var text: String
        var error: LabelSetError?
        var testDescription: String { name }
    }

    static let limitCases: [Limit] = {
        let longName = String(repeating: "n", count: 1024)
        let longValue = String(repeating: "v", count: 2048)
        return [
            Limit(name: "15 names", text: labels(15), error: nil),
            Limit(name: "16 names", text: labels(16), error: .tooManyNames(count: 16, limit: 15)),
            Limit(name: "15 names + service_name", text: labels(15, extra: #", service_name="api""#), error: nil),
            Limit(
                name: "16 names + service_name",
                text: labels(16, extra: #", service_name="api""#),
                error: .tooManyNames(count: 16, limit: 15)
            ),
            Limit(name: "16 names, one empty (dropped)", text: labels(15, extra: #", empty="""#), error: nil),
            Limit(name: "Loki internal stream", text: labels(30, extra: #", __pattern__="p""#), error: nil),
            Limit(name: "name of 1024 bytes", text: "{\(longName)=\"x\"}", error: nil),
            Limit(
                name: "name of 1025 bytes",
                text: "{\(longName)n=\"x\"}",
                error: .nameTooLong(name: longName + "n", length: 1025, limit: 1024)
            ),
            Limit(name: "value of 2048 bytes", text: "{a=\"\(longValue)\"}", error: nil),
            Limit(
                name: "value of 2049 bytes",
                text: "{a=\"\(longValue)v\"}",
                error: .valueTooLong(name: "a", value: longValue + "v", length: 2049, limit: 2048)
            ),
            Limit(
                name: "value of 1025 × é = 2050 bytes",
                text: "{a=\"\(String(repeating: "é", count: 1025))\"}",
                error: .valueTooLong(
                    name: "a",
                    value: String(repeating: "é", count: 1025),
                    length: 2050,
                    limit: 2048
                )
            ),
            Limit(
                name: "value escapes count decoded",
                text: "{a=\"\(String(repeating: #"\n"#, count: 2048))\"}",
                error: nil
            ),
            // Loki checks the count first, then each label in name order.
            Limit(
                name: "count before lengths",
                text: labels(16, extra: ", \(longName)n=\"x\""),
                error: .tooManyNames(count: 17, limit: 15)
            ),
            Limit(
                name: "name order",
                text: "{b\(longName)=\"1\", a=\"\(longValue)v\"}",
                error: .valueTooLong(name: "a", value: longValue + "v", length: 2049, limit: 2048)
            ),
        ]
    }()

    @Test(arguments: limitCases)
    func appliesLokisLabelLimits(_ example: Limit) {
        if let expected = example.error {
            #expect(throws: expected) { try LabelSetParser.parse(example.text) }
        } else {
            #expect(throws: Never.self) { try LabelSetParser.parse(example.text) }
        }
    }

    @Test func limitsAreConfigurable() throws {
        let limits = EntryLimits(maxLabelNamesPerSeries: 2, maxLabelNameLength: 3, maxLabelValueLength: 4)
        #expect(try LabelSetParser.parse(#"{abc="1234", d="x"}"#, limits: limits).count == 2)
        #expect(throws: LabelSetError.tooManyNames(count: 3, limit: 2)) {
            try LabelSetParser.parse(#"{a="1", b="2", c="3"}"#, limits: limits)
        }
        #expect(throws: LabelSetError.nameTooLong(name: "abcd", length: 4, limit: 3)) {
            try LabelSetParser.parse(#"{abcd="1"}"#, limits: limits)
        }
        #expect(throws: LabelSetError.valueTooLong(name: "a", value: "12345", length: 5, limit: 4)) {
            try LabelSetParser.parse(#"{a="12345"}"#, limits: limits)
        }
    }

    @Test func manyLabelsAreSortedAndCheckedForDuplicates() {
        // More labels than the insertion sort handles, with a duplicate far apart.
        let limits = EntryLimits(maxLabelNamesPerSeries: 100)
        #expect(throws: Never.self) { try LabelSetParser.parse(Self.labels(60), limits: limits) }
        #expect(throws: LabelSetError.duplicateName("l3")) {
            try LabelSetParser.parse(Self.labels(60, extra: #", l3="again""#), limits: limits)
        }
    }

    @Test func scratchIsReusableAcrossLabelSets() throws {
        var scratch = LabelSetParser.Scratch()
        let limits = EntryLimits()
        let texts = [#"{a="1", b="2"}"#, #"{a="1", a="2"}"#, #"{z="ü"}"#, "{", #"{a="1", b="2"}"#]
        var results: [LabelSetError.Kind?] = []
        for text in texts {
            do {
                try LabelSetParser.validate(text, limits: limits, scratch: &scratch)
                results.append(nil)
            } catch {
                results.append(error.kind)
            }
        }
        #expect(results == [nil, .duplicateName, nil, .syntax, nil])
    }

    // MARK: Messages

    struct Message: Sendable, CustomTestStringConvertible {
        var error: LabelSetError
        var labels: String
        var message: String
        var reason: String
        var testDescription: String { reason }
    }

    static let messages: [Message] = [
        Message(
            error: .duplicateName("app"),
            labels: #"{app="x", app="y"}"#,
            message: #"stream '{app="x", app="y"}' has duplicate label name: 'app'"#,
            reason: "duplicate_label_names"
        ),
        Message(
            error: .empty,
            labels: "{}",
            message: "error at least one label pair is required per stream",
            reason: "missing_labels"
        ),
        Message(
            error: .tooManyNames(count: 16, limit: 15),
            labels: "{…}",
            message: "entry for stream '{…}' has 16 label names; limit 15",
            reason: "max_label_names_per_series"
        ),
        Message(
            error: .nameTooLong(name: "nnn", length: 3, limit: 2),
            labels: #"{nnn="1"}"#,
            message: #"stream '{nnn="1"}' has label name too long: 'nnn'"#,
            reason: "label_name_too_long"
        ),
        Message(
            error: .valueTooLong(name: "a", value: "vvv", length: 3, limit: 2),
            labels: #"{a="vvv"}"#,
            message: #"stream '{a="vvv"}' has label value too long: 'vvv'"#,
            reason: "label_value_too_long"
        ),
        Message(
            error: .invalidName(offset: 1, name: "1a"),
            labels: #"{1a="x"}"#,
            message:
                #"Error parsing labels '{1a="x"}' with error: byte 1: invalid label name '1a': names must match [a-zA-Z_][a-zA-Z0-9_]* (or be a non-empty quoted string)"#,
            reason: "invalid_labels"
        ),
    ]

    @Test(arguments: messages)
    func rendersLokisMessages(_ example: Message) {
        #expect(example.error.lokiMessage(labels: example.labels) == example.message)
        #expect(example.error.kind.lokiReason == example.reason)
    }
}
