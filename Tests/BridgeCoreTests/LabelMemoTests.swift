import BridgeCore
import Testing

/// The label memo only saves work: every answer with it must be the answer without it.
@Suite("LabelMemo: label sets remembered across records")
struct LabelMemoTests {
    private static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test("a value is found only for exactly the bytes it was stored for")
    func exactBytes() {
        var memo = ByteMemo<Int>(capacity: 8)
        Self.bytes("{app=\"a\"}").withUnsafeBufferPointer { memo.store(1, for: $0) }
        #expect(Self.bytes("{app=\"a\"}").withUnsafeBufferPointer { memo.value(for: $0) } == 1)
        #expect(Self.bytes("{app=\"a\"} ").withUnsafeBufferPointer { memo.value(for: $0) } == nil)
        #expect(Self.bytes("{app=\"b\"}").withUnsafeBufferPointer { memo.value(for: $0) } == nil)
        #expect([UInt8]().withUnsafeBufferPointer { memo.value(for: $0) } == nil)
    }

    @Test("an entry under the right hash but with other bytes is a miss, not a wrong answer")
    func collisionIsAMiss() {
        var memo = ByteMemo<Int>(capacity: 8)
        let key = Self.bytes("{a=\"1\"}")
        // Stored under the hash of `key`, but holding other bytes: what a collision looks like.
        memo.store(7, key: Self.bytes("{b=\"2\"}"), hash: key.withUnsafeBufferPointer { ByteHash.hash($0) })
        #expect(key.withUnsafeBufferPointer { memo.value(for: $0) } == nil)
    }

    @Test("a full memo starts over: bounded, and later entries are still found")
    func boundedByCapacity() {
        var memo = ByteMemo<Int>(capacity: 4)
        for index in 0..<10 {
            Self.bytes("{n=\"\(index)\"}").withUnsafeBufferPointer { memo.store(index, for: $0) }
            #expect(memo.count <= 4)
        }
        #expect(Self.bytes("{n=\"9\"}").withUnsafeBufferPointer { memo.value(for: $0) } == 9)
        #expect(Self.bytes("{n=\"0\"}").withUnsafeBufferPointer { memo.value(for: $0) } == nil)
    }

    @Test("keys longer than the limit are not stored: the memo's memory stays bounded")
    func longKeysAreNotStored() {
        var memo = ByteMemo<Int>(capacity: 8, maxKeyBytes: 16)
        let short = Self.bytes(String(repeating: "a", count: 16))
        let long = Self.bytes(String(repeating: "a", count: 17))
        short.withUnsafeBufferPointer { memo.store(1, for: $0) }
        long.withUnsafeBufferPointer { memo.store(2, for: $0) }
        memo.store(3, key: long, hash: 42)
        #expect(memo.count == 1)
        #expect(short.withUnsafeBufferPointer { memo.value(for: $0) } == 1)
        #expect(long.withUnsafeBufferPointer { memo.value(for: $0) } == nil)
    }

    @Test("prefix comparison at every length around the eight-byte step")
    func prefixAtEveryLength() {
        let text = Self.bytes("0123456789abcdefghijklmnopq")
        text.withUnsafeBufferPointer { buffer in
            for length in 0...text.count {
                #expect(ByteMemo<Int>.hasPrefix(buffer, Array(text[..<length])))
                guard length > 0 else { continue }
                var other = Array(text[..<length])
                other[length - 1] ^= 1  // differs in the last byte only
                #expect(!ByteMemo<Int>.hasPrefix(buffer, other), "length \(length)")
            }
            #expect(!ByteMemo<Int>.hasPrefix(buffer, text + [0x30]), "longer than the bytes")
        }
    }

    // MARK: JSON label objects

    /// Label objects built to trip a memo keyed by the bytes up to the first brace: braces and
    /// escaped quotes inside values, objects that are prefixes of others, the same labels in
    /// another order or spacing, repeated names, non-ASCII names.
    private static let labelObjects = [
        #"{"app":"api","env":"prod"}"#, #"{"env":"prod","app":"api"}"#, #"{ "app" : "api", "env":"prod" }"#,
        #"{"app":"}"}"#, #"{"app":"}","env":"x"}"#, #"{"app":"}","env":"y"}"#, #"{"app":"a}b\"c"}"#,
        #"{"app":"api"}"#, #"{"app":"api","app":"web"}"#, #"{"\u00e9":"1","e":"2"}"#, #"{}"#,
        #"{"app":"api","env":"prod","pod":"api-6d5f8-1x7q","container":"app","namespace":"shop"}"#,
        #"{"app":"api","env":"prod","pod":"api-6d5f8-2x4q","container":"app","namespace":"shop"}"#,
    ]

    @Test("bodies read with one memo give what each gives alone, over repeats and near-misses")
    func jsonMemoChangesNothing() throws {
        var random = SplitMix64(seed: 0x1ABE1)
        var memo = ByteMemo<[UInt8]>()
        var valid = 0
        for round in 0..<400 {
            let streams = (0..<(1 + random.next() % 4)).map { _ in
                let labels = Self.labelObjects[Int(random.next() % UInt64(Self.labelObjects.count))]
                return #"{"stream":\#(labels),"values":[["\#(round)","line \#(random.next() % 100)"]]}"#
            }
            var body = Self.bytes(#"{"streams":["# + streams.joined(separator: ",") + "]}")
            if round % 5 == 4 {  // now and then a corrupted copy: errors must not be remembered as labels
                body[Int(random.next() % UInt64(body.count))] = Array("\"{}:,x".utf8)[Int(random.next() % 6)]
            }
            let alone = Result { () throws(RecordDecodeError) in try LokiJSONPushTranscoder.transcode(body) }
            let shared = Result { () throws(RecordDecodeError) in try LokiJSONPushTranscoder.transcode(body, labels: &memo) }
            switch (alone, shared) {
            case (.success(let a), .success(let b)):
                #expect(a.1 == b.1, "body \(round): \(String(decoding: body, as: UTF8.self))")
                #expect(a.0 == b.0)
                valid += 1
                // And against the Codable reference, which shares no code with the memo (it
                // keeps the first of repeated names where Loki keeps the last: not compared).
                if !String(decoding: body, as: UTF8.self).contains(Self.repeatedName) {
                    #expect(b.1 == Self.reference(body), "body \(round): \(String(decoding: body, as: UTF8.self))")
                }
            case (.failure(let a), .failure(let b)):
                #expect(a.detail == b.detail)
            default:
                Issue.record("memo changed the verdict on body \(round): \(String(decoding: body, as: UTF8.self))")
            }
        }
        #expect(valid > 300)
        #expect(memo.count > 0)  // (corrupted bodies add label objects of their own)
    }

    private static let repeatedName = #"{"app":"api","app":"web"}"#

    /// The protobuf stream fields the Codable decoder and PushBodyBuilder make of `body`.
    private static func reference(_ body: [UInt8]) -> [UInt8]? {
        guard let streams = try? LokiJSONPushDecoder.decode(body) else { return nil }
        var out: [UInt8] = []
        PushBodyBuilder.appendStreams(streams, to: &out)
        return out
    }

    @Test("objects alike up to their first brace, in both orders in one body, with one memo")
    func braceNearMisses() throws {
        var memo = ByteMemo<[UInt8]>()
        for (first, second) in [(#"{"app":"}"}"#, #"{"app":"}","env":"x"}"#), (#"{"app":"}","env":"x"}"#, #"{"app":"}"}"#)] {
            let body = Self.bytes(
                #"{"streams":[{"stream":\#(first),"values":[["1","a"]]},{"stream":\#(second),"values":[["2","b"]]},{"stream":\#(first),"values":[["3","c"]]}]}"#)
            let (_, wire) = try LokiJSONPushTranscoder.transcode(body, labels: &memo)
            #expect(wire == Self.reference(body))
        }
    }

    @Test("a remembered label object is not read again")
    func jsonMemoIsUsed() throws {
        let object = #"{"app":"api"}"#
        var memo = ByteMemo<[UInt8]>()
        // Planted under the bytes up to the first brace (here the whole object), with a text the
        // object would never give: only a lookup can put it in the output.
        let planted = Self.bytes(#"{planted="yes"}"#)
        memo.store(planted, key: Self.bytes(object), hash: Self.bytes(object).withUnsafeBufferPointer { ByteHash.hash($0) })
        let body = Self.bytes(#"{"streams":[{"stream":\#(object),"values":[["1","x"]]}]}"#)
        let (_, wire) = try LokiJSONPushTranscoder.transcode(body, labels: &memo)
        var expected: [UInt8] = []
        PushBodyBuilder.appendStreams(
            [LokiStream(labels: #"{planted="yes"}"#, entries: [LokiEntry(timestampNanos: 1, line: "x")])], to: &expected)
        #expect(wire == expected)
    }

    // MARK: Label validation

    private static func request(labels: String) -> [UInt8] {
        var out: [UInt8] = []
        PushBodyBuilder.appendStreams([LokiStream(labels: labels, entries: [LokiEntry(timestampNanos: 1_700_000_000_000_000_000, line: "x")])], to: &out)
        return out
    }

    private static let now: Int64 = 1_700_000_000_000_000_000

    @Test("a label set found valid is remembered, and not re-parsed")
    func validLabelsAreRemembered() throws {
        let validator = EntryValidator()
        var memo = LabelMemo()
        let body = Self.request(labels: #"{app="x", env="prod"}"#)
        let first = try validator.validate(protobuf: body, now: Self.now, memo: &memo)
        #expect(first.entriesKept == 1)
        #expect(memo.validLabelTexts.count == 1)
        // An invalid text planted as valid is trusted: proof the memo is consulted.
        let invalid = #"{0bad="x"}"#
        Array(invalid.utf8).withUnsafeBufferPointer { memo.validLabelTexts.store(true, for: $0) }
        let planted = try validator.validate(protobuf: Self.request(labels: invalid), now: Self.now, memo: &memo)
        #expect(planted.entriesKept == 1)
        let fresh = try validator.validate(protobuf: Self.request(labels: invalid), now: Self.now)
        #expect(fresh.entriesRejected == 1, "without the memo the same labels are refused")
    }

    @Test("invalid label sets are never remembered")
    func invalidLabelsAreNotRemembered() throws {
        var memo = LabelMemo()
        for _ in 0..<2 {
            let outcome = try EntryValidator().validate(protobuf: Self.request(labels: #"{0bad="x"}"#), now: Self.now, memo: &memo)
            #expect(outcome.entriesRejected == 1)
        }
        #expect(memo.validLabelTexts.count == 0)
    }

    @Test("other limits start the memo over: a set valid before can be refused now")
    func otherLimitsForget() throws {
        var memo = LabelMemo()
        let body = Self.request(labels: #"{app="x", env="prod", team="a"}"#)
        let loose = try EntryValidator().validate(protobuf: body, now: Self.now, memo: &memo)
        #expect(loose.entriesKept == 1)
        let strict = EntryValidator(limits: EntryLimits(maxLabelNamesPerSeries: 2))
        let outcome = try strict.validate(protobuf: body, now: Self.now, memo: &memo)
        #expect(outcome.entriesRejected == 1)
        #expect(memo.validatedUnder == strict.limits)
    }
}
