import BridgeCore
import Testing

/// Times and encoders shared by the validator tests.
private enum V {
    /// 2023-11-14T22:13:20Z.
    static let now: Int64 = 1_700_000_000_000_000_000
    static let second: Int64 = 1_000_000_000
    static let maxAge: Int64 = 168 * 3600 * second
    static let grace: Int64 = 10 * 60 * second
    static let labels = #"{app="x"}"#

    static func entry(
        _ timestamp: Int64 = now,
        _ line: String = "line",
        _ metadata: [(String, String)] = []
    )
        -> LokiEntry
    {
        LokiEntry(
            timestampNanos: timestamp,
            line: line,
            structuredMetadata: metadata.map { LabelPair(name: $0.0, value: $0.1) }
        )
    }

    static func stream(_ labels: String, _ entries: [LokiEntry]) -> LokiStream {
        LokiStream(labels: labels, entries: entries)
    }

    static func stream(_ entries: [LokiEntry]) -> LokiStream { stream(labels, entries) }

    /// The core's encoder: the protobuf twin of decoded streams.
    static func protobuf(_ streams: [LokiStream]) -> [UInt8] {
        var out: [UInt8] = []
        PushBodyBuilder.appendStreams(streams, to: &out)
        return out
    }

    /// `TestWire.entry` at an absolute nanosecond timestamp.
    static func wireEntry(_ timestamp: Int64, line: [UInt8], metadata: [(String, String)] = []) -> [UInt8] {
        TestWire.entry(
            seconds: timestamp / second,
            nanos: Int32(timestamp % second),
            line: line,
            metadata: metadata
        )
    }

    static func wireEntry(_ timestamp: Int64, _ line: String, metadata: [(String, String)] = []) -> [UInt8] {
        wireEntry(timestamp, line: Array(line.utf8), metadata: metadata)
    }
}

/// The two paths' results side by side; the protobuf path must agree with the JSON path.
private struct Both {
    var json: ValidationOutcome<[LokiStream]>
    var proto: ValidationOutcome<[UInt8]>

    init(_ streams: [LokiStream], _ validator: EntryValidator, sourceLocation: SourceLocation = #_sourceLocation) throws
    {
        json = validator.validate(streams: streams, now: V.now)
        let bytes = V.protobuf(streams)
        proto = try validator.validate(protobuf: bytes, now: V.now)
        // With the scanner's bounds (the shortcut that checks only labels when every entry is
        // within the limits) the outcome must be the same.
        let bounds = try LokiProtobufScanner.scan(bytes).0.bounds
        let shortcut = try validator.validate(protobuf: bytes, bounds: bounds, now: V.now)
        #expect(shortcut == proto, "the outcome with the scanner's bounds differs", sourceLocation: sourceLocation)
        #expect(
            proto.content == V.protobuf(json.content),
            "protobuf and JSON paths differ",
            sourceLocation: sourceLocation
        )
        #expect(proto.replacingContent(0) == json.replacingContent(0), sourceLocation: sourceLocation)
    }
}

@Suite("EntryValidator: Loki's limits before the push, on decoded streams and on protobuf bytes")
struct EntryValidatorTests {
    @Test func defaultsAreLokis() {
        let limits = EntryLimits()
        #expect(limits.rejectOldSamples)
        #expect(limits.maxAge == .seconds(7 * 24 * 3600))
        #expect(limits.creationGracePeriod == .seconds(600))
        #expect(limits.maxLineBytes == 262_144)
        #expect(limits.oversizePolicy == .truncate)
        #expect(limits.maxLabelNamesPerSeries == 15)
        #expect(limits.maxLabelNameLength == 1024)
        #expect(limits.maxLabelValueLength == 2048)
        #expect(limits.allowStructuredMetadata)
        #expect(limits.maxStructuredMetadataBytes == 65_536)
        #expect(limits.maxStructuredMetadataEntries == 128)
    }

    // MARK: Time window

    struct Timing: Sendable, CustomTestStringConvertible {
        var name: String
        var timestamp: Int64
        var reason: RejectionReason?
        var testDescription: String { name }
    }

    static let timings: [Timing] = [
        Timing(name: "now", timestamp: V.now, reason: nil),
        Timing(name: "exactly max age old", timestamp: V.now - V.maxAge, reason: nil),
        Timing(name: "1 ns older than max age", timestamp: V.now - V.maxAge - 1, reason: .tooOld),
        Timing(name: "exactly the grace period ahead", timestamp: V.now + V.grace, reason: nil),
        Timing(name: "1 ns beyond the grace period", timestamp: V.now + V.grace + 1, reason: .tooFarInFuture),
        Timing(name: "the epoch", timestamp: 0, reason: .tooOld),
        Timing(name: "before the epoch", timestamp: -1, reason: .tooOld),
        Timing(name: "Int64.min", timestamp: .min, reason: .tooOld),
        Timing(name: "Int64.max", timestamp: .max, reason: .tooFarInFuture),
    ]

    @Test(arguments: timings)
    func rejectsEntriesOutsideTheTimeWindowInclusiveBounds(_ timing: Timing) throws {
        let input = [V.stream([V.entry(timing.timestamp)])]
        let both = try Both(input, EntryValidator())
        if let reason = timing.reason {
            #expect(both.json.content.isEmpty)
            #expect(both.proto.content.isEmpty)
            #expect(both.json.rejectedByReason == [reason: 1])
            #expect(both.json.rejections.map(\.timestampNanos) == [timing.timestamp])
        } else {
            #expect(both.json.isUnchanged && both.proto.isUnchanged)
            #expect(both.json.entriesKept == 1)
        }
    }

    @Test func keepsOldEntriesWhenRejectOldSamplesIsOff() throws {
        let validator = EntryValidator(limits: EntryLimits(rejectOldSamples: false))
        let both = try Both([V.stream([V.entry(0), V.entry(V.now + V.grace + 1)])], validator)
        #expect(both.json.entriesKept == 1)
        #expect(both.json.rejectedByReason == [.tooFarInFuture: 1])
    }

    @Test func customWindow() throws {
        let validator = EntryValidator(limits: EntryLimits(maxAge: .seconds(60), creationGracePeriod: .zero))
        let entries = [V.now - 60 * V.second, V.now - 60 * V.second - 1, V.now, V.now + 1].map { V.entry($0) }
        let both = try Both([V.stream(entries)], validator)
        #expect(both.json.content.first?.entries.map(\.timestampNanos) == [V.now - 60 * V.second, V.now])
        #expect(both.json.rejectedByReason == [.tooOld: 1, .tooFarInFuture: 1])
    }

    // MARK: Line length

    struct Length: Sendable, CustomTestStringConvertible {
        var bytes: Int
        var policy: EntryLimits.OversizePolicy
        var expected: Int?  // kept length, nil when rejected
        var testDescription: String { "\(bytes) bytes, \(policy)" }
    }

    static let lengths: [Length] = [
        Length(bytes: 0, policy: .truncate, expected: 0),
        Length(bytes: 262_143, policy: .truncate, expected: 262_143),
        Length(bytes: 262_144, policy: .truncate, expected: 262_144),
        Length(bytes: 262_145, policy: .truncate, expected: 262_144),
        Length(bytes: 1 << 20, policy: .truncate, expected: 262_144),
        Length(bytes: 262_144, policy: .reject, expected: 262_144),
        Length(bytes: 262_145, policy: .reject, expected: nil),
    ]

    @Test(arguments: lengths)
    func appliesTheLineLimitAtExactly256KiB(_ length: Length) throws {
        let validator = EntryValidator(limits: EntryLimits(oversizePolicy: length.policy))
        let line = String(repeating: "x", count: length.bytes)
        let both = try Both([V.stream([V.entry(V.now, line)])], validator)
        switch length.expected {
        case nil:
            #expect(both.json.content.isEmpty)
            #expect(both.json.rejectedByReason == [.lineTooLong: 1])
        case let kept?:
            #expect(both.json.content.first?.entries.first?.line.utf8.count == kept)
            #expect(both.json.isUnchanged == (kept == length.bytes))
            #expect(both.json.entriesTruncated == (kept == length.bytes ? 0 : 1))
            #expect(both.json.bytesTruncated == length.bytes - kept)
        }
    }

    struct Cut: Sendable, CustomTestStringConvertible {
        var line: String
        var limit: Int
        var expected: String
        var testDescription: String { "\(line.debugDescription) to \(limit)" }
    }

    static let cuts: [Cut] = [
        Cut(line: "abcdefg", limit: 6, expected: "abcdef"),
        Cut(line: "abcdé", limit: 6, expected: "abcdé"),
        Cut(line: "abcdeé", limit: 6, expected: "abcde"),
        Cut(line: "abcdeéz", limit: 7, expected: "abcdeé"),
        Cut(line: "ab€€", limit: 6, expected: "ab€"),
        Cut(line: "ab€€", limit: 7, expected: "ab€"),
        Cut(line: "ab€€", limit: 8, expected: "ab€€"),
        Cut(line: "a😀😀", limit: 6, expected: "a😀"),
        Cut(line: "a😀😀", limit: 8, expected: "a😀"),
        Cut(line: "😀😀", limit: 7, expected: "😀"),
        Cut(line: "😀x", limit: 3, expected: ""),
        Cut(line: "日本語のログ", limit: 10, expected: "日本語"),
        Cut(line: "x", limit: 0, expected: "x"),  // 0 = no limit
    ]

    @Test(arguments: cuts)
    func truncatesAtUTF8CharacterBoundaries(_ cut: Cut) throws {
        let validator = EntryValidator(limits: EntryLimits(maxLineBytes: cut.limit))
        let both = try Both([V.stream([V.entry(V.now, cut.line, [("trace_id", "t1")])])], validator)
        let entry = try #require(both.json.content.first?.entries.first)
        #expect(entry.line == cut.expected)
        #expect(entry.structuredMetadata == [LabelPair(name: "trace_id", value: "t1")])
        #expect(entry.timestampNanos == V.now)
        #expect(both.json.bytesTruncated == cut.line.utf8.count - cut.expected.utf8.count)
    }

    @Test func truncatesBytesThatAreNotUTF8AtTheLimit() throws {
        let line: [UInt8] = Array(repeating: 0x80, count: 10)
        let body = TestWire.pushRequest([TestWire.stream(labels: V.labels, entries: [V.wireEntry(V.now, line: line)])])
        let outcome = try EntryValidator(limits: EntryLimits(maxLineBytes: 6)).validate(protobuf: body, now: V.now)
        let decoded = try TestPushRequest(decoding: outcome.content)
        #expect(decoded.streams.first?.entries.first?.line == Array(line.prefix(6)))
        #expect(outcome.entriesTruncated == 1)
    }

    // MARK: Protobuf fast path

    @Test func validProtobufComesBackAsTheSameBytes() throws {
        let outcome = try EntryValidator().validate(protobuf: Fixture.pushRequest, now: 1_700_000_002 * V.second)
        #expect(outcome.content == Fixture.pushRequest)
        #expect(outcome.isUnchanged)
        #expect(outcome.entriesKept == 3)
        #expect(outcome.entriesRejected == 0 && outcome.rejections.isEmpty && outcome.rejectedByReason.isEmpty)
    }

    @Test func validProtobufIsNotCopied() throws {
        let body = V.protobuf(
            (0..<200).map { V.stream("{n=\"\($0 % 7)\"}", [V.entry(V.now - Int64($0), "line \($0)")]) }
        )
        let outcome = try EntryValidator().validate(protobuf: body, now: V.now)
        #expect(outcome.content == body)
        let same = body.withUnsafeBufferPointer { a in
            outcome.content.withUnsafeBufferPointer { b in a.baseAddress == b.baseAddress }
        }
        #expect(same, "the fast path must hand back the input's storage")
    }

    @Test func rewritesOnlyWhatMustChange() throws {
        let limits = EntryLimits(maxLineBytes: 8)
        let streamA = TestWire.stream(
            labels: #"{app="a"}"#,
            entries: [
                V.wireEntry(V.now - 5, "first"), V.wireEntry(V.now + 123, "second", metadata: [("trace_id", "abc")]),
            ]
        )
        let streamB = TestWire.stream(
            labels: #"{app="b", app="c"}"#,
            entries: [V.wireEntry(V.now, "dup 1"), V.wireEntry(V.now, "dup 2")]
        )
        let streamC = TestWire.stream(
            labels: #"{app="c"}"#,
            entries: [
                V.wireEntry(V.now - V.maxAge - 1, "stale"),
                V.wireEntry(V.now + 7, "0123456789", metadata: [("k", "v"), ("trace_id", "xyz")]),
                V.wireEntry(V.now + V.grace + 1, "future"),
                V.wireEntry(V.now, "ok"),
            ]
        )
        let streamD = TestWire.stream(
            labels: #"{app="d"}"#,
            entries: [V.wireEntry(1, "ancient"), V.wireEntry(2, "ancient too")]
        )
        let streamE = TestWire.stream(labels: #"{bad-name="x"}"#, entries: [])
        let body = TestWire.pushRequest([streamA, streamB, streamC, streamD, streamE])

        let outcome = try EntryValidator(limits: limits).validate(protobuf: body, now: V.now)

        #expect(!outcome.isUnchanged)
        let (summary, forwarded) = try LokiProtobufScanner.scan(outcome.content)
        #expect(forwarded == outcome.content)
        #expect(summary.counts == [3, 4, 5 + 6 + 8 + 2])
        let decoded = try TestPushRequest(decoding: outcome.content)
        let original = try TestPushRequest(decoding: body)
        #expect(decoded.streams.map(\.labels) == [#"{app="a"}"#, #"{app="c"}"#, #"{bad-name="x"}"#])
        #expect(decoded.streams[0] == original.streams[0])
        var truncated = original.streams[2].entries[1]
        truncated.line = Array("01234567".utf8)
        #expect(decoded.streams[1].entries == [truncated, original.streams[2].entries[3]])
        #expect(decoded.streams[1].entries[0].nanos == 7)
        #expect(decoded.streams[1].entries[0].metadata.map(\.name) == ["k", "trace_id"])

        #expect(outcome.entriesKept == 4)
        #expect(outcome.entriesTruncated == 1)
        #expect(outcome.bytesTruncated == 2)
        #expect(outcome.entriesRejected == 6)
        #expect(
            outcome.rejectedByReason == [.invalidLabels(.duplicateName): 2, .tooOld: 3, .tooFarInFuture: 1]
        )
        let (b, c, d) = (#"{app="b", app="c"}"#, #"{app="c"}"#, #"{app="d"}"#)
        #expect(outcome.rejections.map(\.labels) == [b, b, c, c, d, d])
        #expect(
            outcome.rejections.map(\.timestampNanos) == [V.now, V.now, V.now - V.maxAge - 1, V.now + V.grace + 1, 1, 2]
        )
    }

    @Test func rewriteKeepsUnknownFieldsAndFieldOrderByteForByte() throws {
        // StreamAdapter.hash (field 3) after the entries, an unknown fixed32 field inside an entry,
        // and structured metadata before the line.
        let hash = TestWire.key(3, 0) + TestWire.varint(0xDEAD_BEEF)
        let unknown = TestWire.key(9, 5) + [1, 2, 3, 4]
        let timestamp = TestWire.lengthDelimited(1, TestWire.timestamp(seconds: V.now / V.second, nanos: 42))
        let metadata = TestWire.lengthDelimited(3, TestWire.string(1, "trace_id") + TestWire.string(2, "abc"))
        func entry(_ line: String) -> [UInt8] { timestamp + metadata + TestWire.string(2, line) + unknown }
        let kept = V.wireEntry(V.now, "short") + unknown
        let stream = { (entries: [[UInt8]]) in TestWire.stream(labels: V.labels, entries: entries) + hash }
        let body = TestWire.pushRequest([stream([entry("a long line"), kept, V.wireEntry(0, "old")])])

        let outcome = try EntryValidator(limits: EntryLimits(maxLineBytes: 6)).validate(protobuf: body, now: V.now)

        #expect(outcome.content == TestWire.pushRequest([stream([entry("a long"), kept])]))
        #expect(outcome.entriesKept == 2 && outcome.entriesTruncated == 1 && outcome.entriesRejected == 1)
    }

    @Test func fieldsOtherThanStreamsAreCopied() throws {
        let foreign = TestWire.key(5, 0) + TestWire.varint(300)
        let valid = TestWire.lengthDelimited(1, TestWire.stream(labels: V.labels, entries: [V.wireEntry(V.now, "ok")]))
        let stale = TestWire.lengthDelimited(1, TestWire.stream(labels: V.labels, entries: [V.wireEntry(0, "old")]))
        let outcome = try EntryValidator().validate(protobuf: foreign + stale + valid + foreign, now: V.now)
        #expect(outcome.content == foreign + valid + foreign)
    }

    @Test func streamsWithoutEntriesAreLeftAloneEvenWithBadLabels() throws {
        let body = TestWire.pushRequest([TestWire.stream(labels: "{not labels", entries: [])])
        let outcome = try EntryValidator().validate(protobuf: body, now: V.now)
        #expect(outcome.isUnchanged && outcome.content == body && outcome.entriesRejected == 0)
    }

    @Test func repeatedLabelSetsAreJudgedAlike() throws {
        // Consecutive streams with the same labels reuse the previous verdict.
        let streams = [
            V.stream(#"{a="1", a="2"}"#, [V.entry()]), V.stream(#"{a="1", a="2"}"#, [V.entry()]),
            V.stream(#"{a="1"}"#, [V.entry()]), V.stream(#"{a="1"}"#, [V.entry()]),
            V.stream(#"{a="1", a="2"}"#, [V.entry()]),
        ]
        let both = try Both(streams, EntryValidator())
        #expect(both.proto.entriesKept == 2)
        #expect(both.proto.rejectedByReason == [.invalidLabels(.duplicateName): 3])
    }

    struct Malformed: Sendable, CustomTestStringConvertible {
        var name: String
        var bytes: [UInt8]
        var testDescription: String { name }
    }

    static let malformed: [Malformed] = [
        Malformed(name: "truncated", bytes: Array(Fixture.pushRequest.dropLast())),
        Malformed(name: "streams as varint", bytes: TestWire.key(1, 0) + [1]),
        Malformed(
            name: "timestamp seconds as bytes",
            bytes: TestWire.pushRequest([
                TestWire.stream(
                    labels: V.labels,
                    entries: [TestWire.lengthDelimited(1, TestWire.string(1, "x")) + TestWire.string(2, "line")]
                )
            ])
        ),
        Malformed(
            name: "metadata name as varint",
            bytes: TestWire.pushRequest([
                TestWire.stream(
                    labels: V.labels,
                    entries: [TestWire.string(2, "line") + TestWire.lengthDelimited(3, TestWire.key(1, 0) + [1])]
                )
            ])
        ),
    ]

    @Test(arguments: malformed)
    func malformedProtobufThrows(_ example: Malformed) {
        let error = #expect(throws: RecordDecodeError.self) {
            try EntryValidator().validate(protobuf: example.bytes, now: V.now)
        }
        #expect(error?.reason == .protobuf)
    }

    // MARK: Labels

    @Test func aStreamWithInvalidLabelsLosesAllItsEntries() throws {
        let streams = [
            V.stream(#"{app="ok"}"#, [V.entry()]),
            V.stream(#"{app="x", 9lives="y"}"#, [V.entry(V.now, "a"), V.entry(V.now - 1, "b"), V.entry(0, "stale")]),
        ]
        let both = try Both(streams, EntryValidator())
        #expect(both.json.content == [streams[0]])
        #expect(both.json.rejectedByReason == [.invalidLabels(.invalidName): 3])
        #expect(both.json.rejections.map(\.timestampNanos) == [V.now, V.now - 1, 0])
        #expect(
            both.json.rejections.first?.message
                == #"Error parsing labels '{app="x", 9lives="y"}' with error: byte 10: invalid label name '9lives': names must match [a-zA-Z_][a-zA-Z0-9_]* (or be a non-empty quoted string)"#
        )
        #expect(both.json.rejections.first?.reason.lokiReason == "invalid_labels")
    }

    @Test func labelLimitsComeFromTheValidatorsLimits() throws {
        let validator = EntryValidator(limits: EntryLimits(maxLabelNamesPerSeries: 1))
        let both = try Both([V.stream(#"{a="1", b="2"}"#, [V.entry()])], validator)
        #expect(both.json.rejectedByReason == [.invalidLabels(.tooManyNames): 1])
        #expect(both.json.rejections.first?.message == #"entry for stream '{a="1", b="2"}' has 2 label names; limit 1"#)
    }

    // MARK: Structured metadata

    struct Metadata: Sendable, CustomTestStringConvertible {
        var name: String
        var pairs: [LabelPair]
        var limits: EntryLimits
        var reason: RejectionReason?
        var testDescription: String { name }
    }

    static let metadata: [Metadata] = {
        func pairs(_ count: Int) -> [LabelPair] { (0..<count).map { LabelPair(name: "k\($0)", value: "v") } }
        let big = String(repeating: "v", count: 65_536 - 3)
        return [
            Metadata(name: "128 pairs", pairs: pairs(128), limits: EntryLimits(), reason: nil),
            Metadata(name: "129 pairs", pairs: pairs(129), limits: EntryLimits(), reason: .structuredMetadataTooMany),
            Metadata(
                name: "exactly 64 KiB",
                pairs: [LabelPair(name: "big", value: big)],
                limits: EntryLimits(),
                reason: nil
            ),
            Metadata(
                name: "64 KiB + 1",
                pairs: [LabelPair(name: "big", value: big + "v")],
                limits: EntryLimits(),
                reason: .structuredMetadataTooLarge
            ),
            Metadata(
                name: "detected_level is not counted",
                pairs: [LabelPair(name: "big", value: big), LabelPair(name: "detected_level", value: "info")],
                limits: EntryLimits(),
                reason: nil
            ),
            Metadata(
                name: "size before count",
                pairs: pairs(129) + [LabelPair(name: "big", value: big)],
                limits: EntryLimits(),
                reason: .structuredMetadataTooLarge
            ),
            Metadata(
                name: "disallowed",
                pairs: pairs(1),
                limits: EntryLimits(allowStructuredMetadata: false),
                reason: .structuredMetadataDisallowed
            ),
            Metadata(
                name: "none while disallowed",
                pairs: [],
                limits: EntryLimits(allowStructuredMetadata: false),
                reason: nil
            ),
            Metadata(
                name: "no limits",
                pairs: pairs(500) + [LabelPair(name: "big", value: big + big)],
                limits: EntryLimits(maxStructuredMetadataBytes: 0, maxStructuredMetadataEntries: 0),
                reason: nil
            ),
        ]
    }()

    @Test(arguments: metadata)
    func appliesStructuredMetadataLimits(_ example: Metadata) throws {
        let entry = LokiEntry(timestampNanos: V.now, line: "l", structuredMetadata: example.pairs)
        let both = try Both([V.stream([entry])], EntryValidator(limits: example.limits))
        if let reason = example.reason {
            #expect(both.json.rejectedByReason == [reason: 1])
        } else {
            #expect(both.json.isUnchanged && both.proto.isUnchanged)
            #expect(both.json.content.first?.entries.first?.structuredMetadata == example.pairs)
        }
    }

    // MARK: Messages and accounting

    struct Wording: Sendable, CustomTestStringConvertible {
        var entry: LokiEntry
        var limits: EntryLimits
        var message: String
        var testDescription: String { message }
    }

    static let wordings: [Wording] = [
        Wording(
            entry: V.entry(V.now - V.maxAge - V.second),
            limits: EntryLimits(),
            message:
                #"entry for stream '{app="x"}' has timestamp too old: 2023-11-07T22:13:19Z, oldest acceptable timestamp is: 2023-11-07T22:13:20Z"#
        ),
        Wording(
            entry: V.entry(-1),
            limits: EntryLimits(),
            message:
                #"entry for stream '{app="x"}' has timestamp too old: 1969-12-31T23:59:59Z, oldest acceptable timestamp is: 2023-11-07T22:13:20Z"#
        ),
        Wording(
            entry: V.entry(V.now + 11 * 60 * V.second + 999),
            limits: EntryLimits(),
            message: #"entry for stream '{app="x"}' has timestamp too new: 2023-11-14T22:24:20Z"#
        ),
        Wording(
            entry: V.entry(V.now, String(repeating: "x", count: 262_145)),
            limits: EntryLimits(oversizePolicy: .reject),
            message:
                #"Max entry size '262144' bytes exceeded for stream '{app="x"}' while adding an entry with length '262145' bytes"#
        ),
        Wording(
            entry: V.entry(V.now, "l", [("a", "bcd")]),
            limits: EntryLimits(maxStructuredMetadataBytes: 3),
            message:
                "stream '{app=\"x\"}' has structured metadata too large: '4' bytes, limit: '3' bytes. Please see `limits_config.max_structured_metadata_size` or contact your Loki administrator to increase it."
        ),
        Wording(
            entry: V.entry(V.now, "l", [("a", "1"), ("b", "2")]),
            limits: EntryLimits(maxStructuredMetadataEntries: 1),
            message:
                "stream '{app=\"x\"}' has too many structured metadata labels: '2', limit: '1'. Please see `limits_config.max_structured_metadata_entries_count` or contact your Loki administrator to increase it."
        ),
        Wording(
            entry: V.entry(V.now, "l", [("a", "1")]),
            limits: EntryLimits(allowStructuredMetadata: false),
            message:
                "stream '{app=\"x\"}' includes structured metadata, but this feature is disallowed. Please see `limits_config.allow_structured_metadata` or contact your Loki administrator to enable it."
        ),
    ]

    @Test(arguments: wordings)
    func explainsRejectionsInLokisWords(_ wording: Wording) throws {
        let both = try Both([V.stream([wording.entry])], EntryValidator(limits: wording.limits))
        #expect(both.json.rejections.map(\.message) == [wording.message])
        #expect(both.json.rejections.map(\.labels) == [V.labels])
    }

    @Test func reasonsMapToLokisDiscardReasons() {
        let reasons: [(RejectionReason, String)] = [
            (.tooOld, "greater_than_max_sample_age"), (.tooFarInFuture, "too_far_in_future"),
            (.lineTooLong, "line_too_long"), (.invalidLabels(.syntax), "invalid_labels"),
            (.invalidLabels(.empty), "missing_labels"), (.invalidLabels(.duplicateName), "duplicate_label_names"),
            (.structuredMetadataDisallowed, "disallowed_structured_metadata"),
            (.structuredMetadataTooLarge, "structured_metadata_too_large"),
            (.structuredMetadataTooMany, "structured_metadata_too_many"),
        ]
        for (reason, name) in reasons { #expect(reason.lokiReason == name) }
    }

    @Test func listsAtMostMaxListedRejectionsButCountsThemAll() throws {
        let validator = EntryValidator(maxListedRejections: 2)
        let stale = (1...5).map { V.entry(Int64($0)) }
        let both = try Both([V.stream(stale), V.stream(#"{a=""}"#, [V.entry(), V.entry()])], validator)
        #expect(both.json.entriesRejected == 7)
        #expect(both.json.rejectedByReason == [.tooOld: 5, .invalidLabels(.empty): 2])
        #expect(both.json.rejections.map(\.timestampNanos) == [1, 2])
        #expect(both.json.rejectionsNotListed == 5)
    }

    @Test func pushContentKeepsItsShape() throws {
        let validator = EntryValidator()
        let streams = [V.stream([V.entry(), V.entry(0)])]
        let fromJSON = try validator.validate(.streams(streams), now: V.now)
        let fromProtobuf = try validator.validate(.protobuf(V.protobuf(streams)), now: V.now)
        #expect(Segment(fromJSON.content) == .streams([V.stream([V.entry()])]))
        #expect(Segment(fromProtobuf.content) == .protobuf(V.protobuf([V.stream([V.entry()])])))
        #expect(fromJSON.entriesRejected == 1 && fromProtobuf.entriesRejected == 1)
    }

    @Test func validStreamsComeBackUnchanged() throws {
        let streams = (0..<50).map { V.stream("{n=\"\($0)\"}", [V.entry(V.now - Int64($0)), V.entry(V.now, "ü")]) }
        let both = try Both(streams, EntryValidator())
        #expect(both.json.isUnchanged && both.json.content == streams)
        #expect(both.json.entriesKept == 100)
    }

    // MARK: The shortcut with entry bounds

    /// The bounds are trusted: with bounds that claim every entry is fine, a too-old entry is
    /// kept. (They come from the scan of the same bytes in the product; this shows the shortcut
    /// is taken.) Labels are still checked.
    @Test func boundsWithinTheLimitsSkipTheEntryChecksButNotTheLabels() throws {
        let tooOld = [V.stream([V.entry(V.now - V.maxAge - 1)])]
        var claim = EntryBounds()
        claim.include(timestampNanos: V.now, lineBytes: 4, hasMetadata: false)
        let validator = EntryValidator()
        let trusted = try validator.validate(protobuf: V.protobuf(tooOld), bounds: claim, now: V.now)
        #expect(trusted.isUnchanged && trusted.entriesKept == 1)
        let honest = try LokiProtobufScanner.scan(V.protobuf(tooOld)).0.bounds
        let checked = try validator.validate(protobuf: V.protobuf(tooOld), bounds: honest, now: V.now)
        #expect(checked.entriesRejected == 1, "bounds outside the window take the full pass")

        // Bounds of another request (here: of nothing) are not used.
        let unmeasured = try validator.validate(protobuf: V.protobuf(tooOld), bounds: EntryBounds(), now: V.now)
        #expect(unmeasured.entriesRejected == 1, "bounds that saw fewer entries take the full pass")

        let badLabels = [V.stream("{1x=\"y\"}", [V.entry()]), V.stream([V.entry()])]
        claim.include(timestampNanos: V.now, lineBytes: 4, hasMetadata: false)  // two entries, as in badLabels
        let outcome = try validator.validate(protobuf: V.protobuf(badLabels), bounds: claim, now: V.now)
        #expect(outcome.entriesRejected == 1 && outcome.entriesKept == 1)
        #expect(outcome.content == V.protobuf([V.stream([V.entry()])]))
    }

    /// Every edge of the limits, with and without the shortcut, on requests whose entries are
    /// mostly within them (so the shortcut is taken often) and labels sometimes invalid.
    @Test(arguments: [5, 6, 7, 8])
    func theShortcutAgreesWithTheFullPass(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let times = [V.now, V.now - V.maxAge, V.now - V.maxAge - 1, V.now + V.grace, V.now + V.grace + 1]
        let lines = ["", "exactly 16 bytes", "seventeen bytes!!"]
        let labels = [#"{app="a"}"#, #"{app="b", env="prod"}"#, #"{1x="y"}"#]
        let limits = EntryLimits(maxLineBytes: 16, maxStructuredMetadataEntries: 2)
        let validator = EntryValidator(limits: limits, maxListedRejections: .max)
        var shortcuts = 0
        for _ in 0..<200 {
            let streams = (0..<Int.random(in: 1...3, using: &random)).map { _ in
                let entries = (0..<Int.random(in: 0...3, using: &random)).map { _ in
                    let unusual = random.next() % 8 == 0
                    return V.entry(
                        unusual ? times.randomElement(using: &random)! : V.now,
                        unusual ? lines.randomElement(using: &random)! : "line",
                        random.next() % 16 == 0 ? [("m", "x")] : [])
                }
                return V.stream(random.next() % 8 == 0 ? labels.randomElement(using: &random)! : labels[0], entries)
            }
            let bytes = V.protobuf(streams)
            let bounds = try LokiProtobufScanner.scan(bytes).0.bounds
            let full = try validator.validate(protobuf: bytes, now: V.now)
            let short = try validator.validate(protobuf: bytes, bounds: bounds, now: V.now)
            #expect(short == full)
            if bounds.oldestNanos >= V.now - V.maxAge, bounds.newestNanos <= V.now + V.grace, bounds.longestLine <= 16,
                !bounds.hasMetadata
            {
                shortcuts += 1
            }
        }
        #expect(shortcuts > 20, "the generator must produce requests the shortcut applies to")
    }

    // MARK: Both paths agree on random requests

    @Test(arguments: [1, 2, 3, 4], [EntryLimits.OversizePolicy.truncate, .reject])
    func protobufAndJSONPathsAgree(seed: UInt64, policy: EntryLimits.OversizePolicy) throws {
        var random = SplitMix64(seed: seed)
        let labelPool = [
            #"{app="a"}"#, #"{app="b", env="prod"}"#, #"{app="a", app="b"}"#, #"{1x="y"}"#, "{}", #"{svc="ü"}"#,
            #"{a="1",}"#,
        ]
        let linePool = ["", "short", "exactly 16 bytes", "seventeen bytes!!", "ünïcödé wörds here", "😀😀😀😀😀"]
        let times = [V.now, V.now - V.maxAge, V.now - V.maxAge - 1, V.now + V.grace, V.now + V.grace + 1, 0]
        let streams = (0..<40).map { _ in
            let count = Int.random(in: 0...6, using: &random)
            let entries = (0..<count).map { _ in
                let metadataCount = Int.random(in: 0...3, using: &random)
                return LokiEntry(
                    timestampNanos: times.randomElement(using: &random)! + Int64.random(in: 0...1, using: &random),
                    line: linePool.randomElement(using: &random)!,
                    structuredMetadata: (0..<metadataCount).map { LabelPair(name: "m\($0)", value: "x") }
                )
            }
            return V.stream(labelPool.randomElement(using: &random)!, entries)
        }
        let limits = EntryLimits(maxLineBytes: 16, oversizePolicy: policy, maxStructuredMetadataEntries: 2)
        let both = try Both(streams, EntryValidator(limits: limits, maxListedRejections: .max))
        let total = streams.reduce(0) { $0 + $1.entries.count }
        #expect(both.json.entriesKept + both.json.entriesRejected == total)
        #expect(both.json.rejections.count == both.json.entriesRejected)
        let (summary, _) = try LokiProtobufScanner.scan(both.proto.content)
        #expect(summary.entries == both.proto.entriesKept)
    }
}
