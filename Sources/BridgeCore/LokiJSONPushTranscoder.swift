/// Turns a Loki JSON push body straight into serialized `PushRequest` stream fields, the form
/// the protobuf fast path forwards, without building Swift strings per line.
///
/// Accepts exactly what ``LokiJSONPushDecoder`` accepts (the current `stream`/`values` format
/// and the legacy `labels`/`entries` one, unknown keys ignored, `null` for absent optional
/// fields) and produces the bytes ``PushBodyBuilder`` would produce from that decoder's streams:
/// the differential tests hold the two to that. Labels are sorted and escaped as by
/// ``LabelFormatter``; structured metadata is sorted by name. One deliberate difference: a
/// repeated key of a label or metadata object keeps its last value, as in Go's encoding/json
/// (Loki), where Foundation's decoder keeps the first.
///
/// Why: `JSONDecoder` costs about 3.6 µs per 270-byte line, ten times the rest of the path
/// (docs/performance.md); this single pass copies each line once.
package enum LokiJSONPushTranscoder {
    /// Transcodes `bytes` (uncompressed JSON).
    ///
    /// - Returns: what the body holds, and its streams as protobuf `PushRequest` fields.
    /// - Throws: ``RecordDecodeError`` with reason `.json` saying what is wrong and where.
    ///
    /// - Parameter labels: label objects already read (raw JSON → label text), kept across
    ///   calls by the caller; see ``LabelMemo``.
    package static func transcode(
        _ bytes: [UInt8], labels: inout ByteMemo<[UInt8]>, blockShuffle: Bool = JSONStringScan.shuffleAvailable
    ) throws(RecordDecodeError) -> (LokiProtobufScanner.Summary, [UInt8]) {
        try bytes.withUnsafeBufferPointer { (buffer) throws(RecordDecodeError) in
            try transcode(buffer, labels: &labels, blockShuffle: blockShuffle)
        }
    }

    /// Transcodes the bytes at `buffer`, which it reads only within its bounds (the tests place
    /// bodies against a guard page through this form: the scans read 8 and 16 bytes at once).
    ///
    /// `blockShuffle` lets the line scan use the SSSE3 shuffle where the CPU has it (see
    /// `JSONStringScan.copyUnescaping`); the tests also run without it.
    package static func transcode(
        _ buffer: UnsafeBufferPointer<UInt8>, labels: inout ByteMemo<[UInt8]>,
        blockShuffle: Bool = JSONStringScan.shuffleAvailable
    ) throws(RecordDecodeError) -> (LokiProtobufScanner.Summary, [UInt8]) {
        // An unescaped line is never longer than the JSON it came from.
        let lineBuffer = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, buffer.count))
        defer { lineBuffer.deallocate() }
        var parser = JSONPushParser(buffer, lineBuffer: lineBuffer, blockShuffle: blockShuffle)
        // Moved in and out, not copied: the parser's stores must not copy the memo.
        swap(&parser.labelMemo, &labels)
        defer { swap(&parser.labelMemo, &labels) }
        return try parser.pushRequest()
    }

    /// Transcodes `bytes` with a memo of its own (one record, tests).
    package static func transcode(
        _ bytes: [UInt8], blockShuffle: Bool = JSONStringScan.shuffleAvailable
    ) throws(RecordDecodeError) -> (LokiProtobufScanner.Summary, [UInt8]) {
        var labels = ByteMemo<[UInt8]>()
        return try transcode(bytes, labels: &labels, blockShuffle: blockShuffle)
    }
}

/// A single-pass JSON reader specialised for push bodies.
private struct JSONPushParser {
    let input: UnsafeBufferPointer<UInt8>
    /// Where ``lineBytes()`` unescapes a line: `input.count` bytes of trivial `UInt8`s (written
    /// with `initialize`, never read before written), owned by the caller.
    let lineBuffer: UnsafeMutablePointer<UInt8>
    /// Whether the line scan may use the SSSE3 block shuffle (``JSONStringScan``).
    let blockShuffle: Bool
    var position = 0
    var out: [UInt8] = []
    var summary = LokiProtobufScanner.Summary()
    /// Where the stream being encoded starts in `out`: its tag, then a two-byte length
    /// placeholder (see ``openStream()``).
    var streamStart = 0
    /// Scratch buffers reused across entries (those with structured metadata).
    var entry: [UInt8] = []
    var stamp: [UInt8] = []
    /// Scratch of ``labelText()``: unescaped names and values, their ranges, the sort order.
    var labelBytes: [UInt8] = []
    var labelPairs: [(name: Range<Int>, value: Range<Int>)] = []
    var labelOrder: [Int] = []
    /// Label objects read before (the caller's, moved in for the call).
    var labelMemo = ByteMemo<[UInt8]>(capacity: 1)

    init(_ input: UnsafeBufferPointer<UInt8>, lineBuffer: UnsafeMutablePointer<UInt8>, blockShuffle: Bool) {
        self.input = input
        self.lineBuffer = lineBuffer
        self.blockShuffle = blockShuffle
        out.reserveCapacity(input.count)
    }

    // MARK: - Push request structure

    mutating func pushRequest() throws(RecordDecodeError) -> (LokiProtobufScanner.Summary, [UInt8]) {
        var sawStreams = false
        try object { (parser, key) throws(RecordDecodeError) in
            guard key == "streams" else { return try parser.skipValue() }
            sawStreams = true
            try parser.array { (parser) throws(RecordDecodeError) in try parser.streamObject() }
        }
        skipWhitespace()
        guard position == input.count else { throw fail("unexpected data after the top-level object") }
        guard sawStreams else { throw RecordDecodeError(.json, "missing key 'streams' at top level") }
        return (summary, out)
    }

    /// One element of `streams`: appends it as `PushRequest.streams` (field 1).
    mutating func streamObject() throws(RecordDecodeError) {
        var labels: [UInt8]?
        var legacyLabels: String?
        var values: Range<Int>?
        var entries: Range<Int>?
        let before = summary
        // The common order ("stream" before "values") is encoded in one pass; any other order,
        // or a repeated key, is encoded afterwards from the remembered array positions.
        var encoded = false
        var reencode = false
        streamStart = out.count
        openStream()
        try object { (parser, key) throws(RecordDecodeError) in
            switch key {
            case "stream":
                labels = try parser.nullOr { (parser) throws(RecordDecodeError) in try parser.labelText() }
                reencode = reencode || encoded
            case "labels":
                legacyLabels = try parser.nullOr { (parser) throws(RecordDecodeError) in try parser.string() }
            case "values":
                parser.skipWhitespace()
                let start = parser.position
                if parser.matchLiteral("null") {
                    reencode = reencode || encoded
                    values = nil
                } else if let labels, !encoded, !reencode {
                    ProtoWireWriter.appendLengthDelimited(field: 1, labels, to: &parser.out)
                    try parser.array { (parser) throws(RecordDecodeError) in try parser.valueEntry() }
                    encoded = true
                    values = start..<parser.position
                } else {
                    reencode = reencode || encoded
                    values = try parser.skippedArray()
                }
            case "entries": entries = try parser.skippedArray()
            default: try parser.skipValue()
            }
        }
        if !encoded || reencode || labels == nil {
            let after = position
            defer { position = after }
            summary = before
            openStream()
            if let labels {
                ProtoWireWriter.appendLengthDelimited(field: 1, labels, to: &out)
                if let values {
                    position = values.lowerBound
                    try array { (parser) throws(RecordDecodeError) in try parser.valueEntry() }
                }
            } else if let legacyLabels {
                ProtoWireWriter.appendLengthDelimited(field: 1, legacyLabels.utf8, to: &out)
                if let entries {
                    position = entries.lowerBound
                    try array { (parser) throws(RecordDecodeError) in try parser.legacyEntry() }
                }
            } else {
                throw RecordDecodeError(.json, "stream has neither 'stream' nor 'labels'")
            }
        }
        closeStream()
        summary.streams += 1
    }

    /// Starts the stream at ``streamStart`` afresh (dropping what a first pass wrote): the
    /// `PushRequest.streams` tag and a two-byte length, fixed by ``closeStream()``. Streams are
    /// written straight into `out`, not assembled apart and copied in: that copy was a pass
    /// over every byte of the output.
    mutating func openStream() {
        out.removeSubrange(streamStart...)
        out.append(0x0A)  // field 1, length-delimited
        out.append(0x80)  // a two-byte varint placeholder
        out.append(0x00)
    }

    /// Writes the length of the stream begun by ``openStream()``. Two bytes hold lengths from
    /// 128 to 16,383 (a typical record's streams); other lengths move the body once.
    mutating func closeStream() {
        let lengthAt = streamStart + 1
        let length = out.count - (lengthAt + 2)
        if length >= 0x80, length < 0x4000 {
            out[lengthAt] = UInt8(truncatingIfNeeded: length) | 0x80
            out[lengthAt + 1] = UInt8(truncatingIfNeeded: length >> 7)
            return
        }
        var prefix: [UInt8] = []
        ProtoWireWriter.appendVarint(UInt64(length), to: &prefix)
        out.replaceSubrange(lengthAt..<(lengthAt + 2), with: prefix)
    }

    /// `["<unix ns>", "line"]` or `["<unix ns>", "line", {"name": "value"}]`.
    mutating func valueEntry() throws(RecordDecodeError) {
        try expect(UInt8(ascii: "["), "an entry array [\"<unix ns>\", \"line\"]")
        let nanos = try timestamp()
        try expect(UInt8(ascii: ","), "',' and the line after the timestamp")
        let line = try lineBytes()
        var metadata: [(String, String)] = []
        skipWhitespace()
        if peek() == UInt8(ascii: ","), skipComma(), peek() != UInt8(ascii: "]") {
            metadata = try nullOr { (parser) throws(RecordDecodeError) in try parser.stringMap() } ?? []
            // Elements after the metadata are ignored, as by the Codable decoder.
            while skipWhitespace(), peek() == UInt8(ascii: ","), skipComma(), peek() != UInt8(ascii: "]") {
                try skipValue()
            }
        }
        try expect(UInt8(ascii: "]"), "']' closing the entry")
        appendEntry(nanos: nanos, line: line, metadata: metadata)
    }

    /// `{"ts": "<RFC 3339>", "line": "…"}` (legacy format).
    mutating func legacyEntry() throws(RecordDecodeError) {
        var ts: String?
        var line: [UInt8]?
        try object { (parser, key) throws(RecordDecodeError) in
            switch key {
            case "ts": ts = try parser.string()
            case "line":
                var bytes: [UInt8] = []
                try parser.stringBytes(into: &bytes)
                line = bytes
            default: try parser.skipValue()
            }
        }
        guard let ts else { throw RecordDecodeError(.json, "missing key 'ts' in a legacy entry") }
        guard let line else { throw RecordDecodeError(.json, "missing key 'line' in a legacy entry") }
        guard let nanos = RFC3339.parseNanos(ts) else {
            throw RecordDecodeError(.json, "legacy entry timestamp '\(ts)' is not RFC 3339")
        }
        line.withUnsafeBufferPointer { appendEntry(nanos: nanos, line: $0, metadata: []) }
    }

    /// Appends `EntryAdapter { timestamp, line, metadata }` to the current stream.
    mutating func appendEntry(nanos: Int64, line text: UnsafeBufferPointer<UInt8>, metadata: [(String, String)]) {
        summary.entries += 1
        summary.lineBytes += text.count
        summary.bounds.include(timestampNanos: nanos, lineBytes: text.count, hasMetadata: !metadata.isEmpty)
        let timestamp = ProtoTimestamp(nanos)
        if metadata.isEmpty {
            // The usual entry: its length is known, so it goes straight into the stream
            // without being assembled in `entry` first (one copy of the line less).
            let stampSize = timestamp.encodedSize
            let length = 2 + ProtoWireWriter.varintSize(UInt64(stampSize)) + stampSize
                + ProtoWireWriter.varintSize(UInt64(text.count)) + text.count
            // Everything before the line is assembled on the stack and appended once (an
            // append per field costs a uniqueness and capacity check each).
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { header in
                var count = 0
                func put(_ byte: UInt8) {
                    header.initializeElement(at: count, to: byte)
                    count += 1
                }
                func put(varint value: Int) {
                    count = ProtoWireWriter.writeVarint(UInt64(value), into: header, at: count)
                }
                put(0x12)  // field 2 (entries), length-delimited
                put(varint: length)
                put(0x0A)  // field 1 (timestamp)
                put(varint: stampSize)  // at most 17 bytes of timestamp follow
                count = timestamp.write(into: header, at: count)
                put(0x12)  // field 2 (line)
                put(varint: text.count)
                out.append(contentsOf: UnsafeBufferPointer(rebasing: header[..<count]))
            }
            out.append(contentsOf: text)
            return
        }
        entry.removeAll(keepingCapacity: true)
        stamp.removeAll(keepingCapacity: true)
        PushBodyBuilder.appendTimestamp(nanos, to: &stamp)
        ProtoWireWriter.appendLengthDelimited(field: 1, stamp, to: &entry)
        ProtoWireWriter.appendLengthDelimited(field: 2, text, to: &entry)
        for (name, value) in metadata.sorted(by: { $0.0 < $1.0 }) {
            var pair: [UInt8] = []
            ProtoWireWriter.appendLengthDelimited(field: 1, name.utf8, to: &pair)
            ProtoWireWriter.appendLengthDelimited(field: 2, value.utf8, to: &pair)
            ProtoWireWriter.appendLengthDelimited(field: 3, pair, to: &entry)
        }
        ProtoWireWriter.appendLengthDelimited(field: 2, entry, to: &out)
    }

    /// A string of Unix nanoseconds, or an integer.
    mutating func timestamp() throws(RecordDecodeError) -> Int64 {
        skipWhitespace()
        if peek() == UInt8(ascii: "\""), let nanos = plainDigits(from: position + 1) {
            return nanos  // the usual "1732183530123456789": no String needed
        }
        if peek() == UInt8(ascii: "\"") {
            let value = try string()
            guard let nanos = Int64(value) else {
                throw fail("timestamp '\(value.prefix(40))' is not an integer of Unix nanoseconds")
            }
            return nanos
        }
        let start = position
        if peek() == UInt8(ascii: "-") { position += 1 }
        while let byte = peek(), byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { position += 1 }
        guard let nanos = Int64(String(decoding: UnsafeBufferPointer(rebasing: input[start..<position]), as: UTF8.self))
        else { throw fail("expected a timestamp (string or integer of Unix nanoseconds)") }
        return nanos
    }

    /// The value of the ASCII digits starting at `start` and closed by a quote (positioned
    /// after the quote), or nil for anything else, overflow included (the general path decides).
    mutating func plainDigits(from start: Int) -> Int64? {
        // Up to 19 digits fit a UInt64 without overflow checks; Int64(exactly:) refuses what is
        // above Int64.max, and 20 digits or more go to the general path (leading zeros included).
        var value: UInt64 = 0
        var index = start
        // Eight digits per step while whole words of digits follow (a nanosecond timestamp has
        // 19: two words, then the byte loop). Two words are at most 16 digits, so the byte
        // loop's 19-digit bound still applies to the total.
        if let base = input.baseAddress {
            while index + 8 <= input.count, index - start <= 8 {
                let word = UInt64(littleEndian: UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self))
                guard let eight = Self.eightDigits(word) else { break }
                value = value &* 100_000_000 &+ eight
                index += 8
            }
        }
        while index < input.count {
            let digit = input[index] &- UInt8(ascii: "0")
            guard digit < 10 else {
                guard input[index] == UInt8(ascii: "\""), index > start, let nanos = Int64(exactly: value) else { return nil }
                position = index + 1
                return nanos
            }
            guard index - start < 19 else { return nil }
            value = value &* 10 &+ UInt64(digit)
            index += 1
        }
        return nil
    }

    /// The value of eight ASCII digits loaded as a little-endian word (the first digit in the
    /// lowest byte), or nil unless all eight are digits. Combines pairs, then quads, then the
    /// halves with multiplies (http://0x80.pl/notesen/2014-10-12-parsing-decimal-numbers-part-1-swar.html).
    @inline(__always)
    static func eightDigits(_ word: UInt64) -> UInt64? {
        let high: UInt64 = 0xF0F0_F0F0_F0F0_F0F0
        // Every byte 0x30...0x39: its high nibble is 3, and adding 6 does not carry into it.
        guard word & high == 0x3030_3030_3030_3030, (word &+ 0x0606_0606_0606_0606) & high == 0x3030_3030_3030_3030
        else { return nil }
        var value = word &- 0x3030_3030_3030_3030
        value = (value &* 10 &+ (value >> 8)) & 0x00FF_00FF_00FF_00FF  // pairs: d0*10+d1 in each 16-bit lane
        value = (value &* 100 &+ (value >> 16)) & 0x0000_FFFF_0000_FFFF  // quads in each 32-bit lane
        return (value &* 10_000 &+ (value >> 32)) & 0xFFFF_FFFF
    }

    /// `{"name": "value", …}`; a repeated name keeps its last value.
    mutating func stringMap() throws(RecordDecodeError) -> [(String, String)] {
        var map: [String: String] = [:]
        try object { (parser, key) throws(RecordDecodeError) in map[key] = try parser.string() }
        return map.map { ($0.key, $0.value) }
    }

    /// A stream's labels `{"name": "value", …}` as Loki's label text: the bytes
    /// ``LabelFormatter/format(_:)`` makes of ``stringMap()``'s pairs (sorted by name, a repeated
    /// name keeps its last value, values escaped), without a String or a Dictionary per stream.
    ///
    /// Names are compared as bytes, which is String order and equality for ASCII. An object with
    /// a non-ASCII name is read again the String way, since String compares and deduplicates
    /// those by canonical equivalence.
    ///
    /// An object whose bytes were read before is not read again: its text comes from
    /// ``labelMemo``. A JSON object ends where its closing brace is, so the same bytes at
    /// `position` read the same way, whatever follows them.
    mutating func labelText() throws(RecordDecodeError) -> [UInt8] {
        let start = position
        let probe = labelProbeHash()
        if let probe, let known = labelMemo.entry(hash: probe),
            ByteMemo<[UInt8]>.hasPrefix(UnsafeBufferPointer(rebasing: input[start...]), known.key)
        {
            position = start + known.key.count
            return known.value
        }
        let text = try readLabelText()
        if let probe { labelMemo.store(text, key: Array(input[start..<position]), hash: probe) }
        return text
    }

    /// The hash ``labelText()`` remembers the object at `position` under: of its bytes up to
    /// the first `}` (the whole object, unless a value holds a brace), found without parsing;
    /// nil when no `}` follows.
    func labelProbeHash() -> UInt64? {
        guard let end = input[position...].firstIndex(of: UInt8(ascii: "}")) else { return nil }
        return ByteHash.hash(UnsafeBufferPointer(rebasing: input[position...end]))
    }

    /// ``labelText()`` without the memo: reads the object at `position`.
    mutating func readLabelText() throws(RecordDecodeError) -> [UInt8] {
        let start = position
        labelBytes.removeAll(keepingCapacity: true)
        labelPairs.removeAll(keepingCapacity: true)
        var ascii = true
        try rawObject { (parser, name) throws(RecordDecodeError) in
            let nameStart = parser.labelBytes.count
            parser.labelBytes.append(contentsOf: name)
            ascii = ascii && name.allSatisfy { $0 < 0x80 }
            let valueStart = parser.labelBytes.count
            var bytes: [UInt8] = []
            swap(&bytes, &parser.labelBytes)  // stringBytes mutates the parser: move the buffer out, no copy
            try parser.stringBytes(into: &bytes)
            swap(&bytes, &parser.labelBytes)
            parser.labelPairs.append((nameStart..<valueStart, valueStart..<parser.labelBytes.count))
        }
        guard ascii else {
            position = start
            return Array(LabelFormatter.format(try stringMap()).utf8)
        }
        // Sorted by name, then by position: the last of equal names is the one kept.
        labelOrder.removeAll(keepingCapacity: true)
        labelOrder.append(contentsOf: labelPairs.indices)
        labelOrder.sort { [labelBytes, labelPairs] a, b in
            let order = labelBytes[labelPairs[a].name].lexicographicallyPrecedes(labelBytes[labelPairs[b].name])
            return order || (a < b && labelBytes[labelPairs[a].name] == labelBytes[labelPairs[b].name])
        }
        var text: [UInt8] = [UInt8(ascii: "{")]
        text.reserveCapacity(labelBytes.count + labelPairs.count * 5 + 2)
        for (rank, index) in labelOrder.enumerated() {
            let pair = labelPairs[index]
            if rank + 1 < labelOrder.count, labelBytes[labelPairs[labelOrder[rank + 1]].name] == labelBytes[pair.name] {
                continue  // a later pair has the same name
            }
            LabelFormatter.appendPair(
                name: labelBytes[pair.name], value: labelBytes[pair.value], separated: text.count > 1, to: &text)
        }
        text.append(UInt8(ascii: "}"))
        return text
    }

    // MARK: - JSON grammar

    /// Calls `member` for each key of an object, positioned at its value.
    ///
    /// - Parameter skipping: the object is being skipped: keys are not checked for UTF-8.
    mutating func object(
        skipping: Bool = false, _ member: (inout JSONPushParser, String) throws(RecordDecodeError) -> Void
    ) throws(RecordDecodeError) {
        try rawObject(skipping: skipping) { (parser, key) throws(RecordDecodeError) in
            try member(&parser, String(decoding: key, as: UTF8.self))
        }
    }

    /// ``object(skipping:_:)`` with each key as its unescaped UTF-8 bytes.
    mutating func rawObject(
        skipping: Bool = false, _ member: (inout JSONPushParser, [UInt8]) throws(RecordDecodeError) -> Void
    ) throws(RecordDecodeError) {
        try expect(UInt8(ascii: "{"), "an object")
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            position += 1
            return
        }
        while true {
            skipWhitespace()
            // A trailing comma is tolerated, as by Foundation's JSON parser (the reference).
            if peek() == UInt8(ascii: "}") {
                position += 1
                return
            }
            var keyBytes: [UInt8] = []
            try stringBytes(into: &keyBytes, checkUTF8: !skipping)
            try expect(UInt8(ascii: ":"), "':' after an object key")
            try member(&self, keyBytes)
            skipWhitespace()
            switch next() {
            case UInt8(ascii: ","): continue
            case UInt8(ascii: "}"): return
            default: throw fail("expected ',' or '}' in an object", back: 1)
            }
        }
    }

    /// Calls `element` for each element of an array, positioned at it.
    mutating func array(_ element: (inout JSONPushParser) throws(RecordDecodeError) -> Void) throws(RecordDecodeError) {
        try expect(UInt8(ascii: "["), "an array")
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            position += 1
            return
        }
        while true {
            skipWhitespace()
            if peek() == UInt8(ascii: "]") {  // trailing comma, as above
                position += 1
                return
            }
            try element(&self)
            skipWhitespace()
            switch next() {
            case UInt8(ascii: ","): continue
            case UInt8(ascii: "]"): return
            default: throw fail("expected ',' or ']' in an array", back: 1)
            }
        }
    }

    /// `null` (nil) or what `value` reads.
    mutating func nullOr<T>(_ value: (inout JSONPushParser) throws(RecordDecodeError) -> T) throws(RecordDecodeError) -> T? {
        skipWhitespace()
        if matchLiteral("null") { return nil }
        return try value(&self)
    }

    /// Skips an array (or `null`), returning where it starts, or nil for `null`.
    mutating func skippedArray() throws(RecordDecodeError) -> Range<Int>? {
        skipWhitespace()
        if matchLiteral("null") { return nil }
        let start = position
        guard peek() == UInt8(ascii: "[") else { throw fail("expected an array") }
        try skipValue()
        return start..<position
    }

    mutating func string() throws(RecordDecodeError) -> String {
        var bytes: [UInt8] = []
        try stringBytes(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the unescaped UTF-8 bytes of a JSON string to `target`.
    ///
    /// - Parameter checkUTF8: refuse invalid UTF-8 (strings that are kept); strings of ignored
    ///   values are only skipped, as by Foundation's parser.
    mutating func stringBytes(into target: inout [UInt8], checkUTF8: Bool = true) throws(RecordDecodeError) {
        try expect(UInt8(ascii: "\""), "a string")
        var runStart = position
        while position < input.count {
            skipPlainBytes()
            guard position < input.count else { break }
            let byte = input[position]
            switch byte {
            case UInt8(ascii: "\""):
                target.append(contentsOf: UnsafeBufferPointer(rebasing: input[runStart..<position]))
                position += 1
                return
            case UInt8(ascii: "\\"):
                target.append(contentsOf: UnsafeBufferPointer(rebasing: input[runStart..<position]))
                position += 1
                try escape(into: &target)
                runStart = position
            case 0x00..<0x20:
                throw fail("unescaped control character in a string")
            case 0x80... where checkUTF8:
                let length = UTF8Check.sequenceLength(input, at: position, end: input.count)
                guard length > 0 else { throw fail("invalid UTF-8 in a string") }
                position += length
            default:
                position += 1
            }
        }
        throw fail("unterminated string")
    }

    /// An entry's line: the JSON string's bytes in the input when it has no escape and only
    /// ASCII (the usual line, no copy), otherwise unescaped into ``lineBuffer``. Valid until the
    /// next line is read.
    ///
    /// The same rules as ``stringBytes(into:checkUTF8:)`` (UTF-8 checked), written with plain
    /// pointer copies: lines of JSON logs carry an escape every few bytes, and an array append
    /// per run and per escape was the bulk of the transcoder's time.
    mutating func lineBytes() throws(RecordDecodeError) -> UnsafeBufferPointer<UInt8> {
        try expect(UInt8(ascii: "\""), "a string")
        guard let base = input.baseAddress else { throw fail("unterminated string") }
        let start = position
        skipPlainBytes()
        if position < input.count, input[position] == UInt8(ascii: "\"") {
            position += 1
            return UnsafeBufferPointer(start: base + start, count: position - 1 - start)
        }
        var count = position - start
        if count > 0 { lineBuffer.initialize(from: base + start, count: count) }
        while position < input.count {
            copyPlainBytes(count: &count)
            guard position < input.count else { break }
            let byte = input[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return UnsafeBufferPointer(start: lineBuffer, count: count)
            case UInt8(ascii: "\\"):
                position += 1
                // One-byte escapes (quotes, backslashes, \n, …) are most of a log line's
                // escapes: written directly, without building an encoded scalar.
                if position < input.count, case let unit = JSONStringScan.oneByteEscape(input[position]), unit != 0 {
                    (lineBuffer + count).initialize(to: unit)
                    count += 1
                    position += 1
                    continue
                }
                for unit in try escapedScalar() {
                    (lineBuffer + count).initialize(to: unit)
                    count += 1
                }
            case 0x00..<0x20:
                throw fail("unescaped control character in a string")
            case 0x80...:
                let length = UTF8Check.sequenceLength(input, at: position, end: input.count)
                guard length > 0 else { throw fail("invalid UTF-8 in a string") }
                (lineBuffer + count).initialize(from: base + position, count: length)
                count += length
                position += length
            default:
                (lineBuffer + count).initialize(to: byte)  // fewer than eight bytes left: the byte loop
                count += 1
                position += 1
            }
        }
        throw fail("unterminated string")
    }

    /// Moves past bytes that need no attention inside a string (``JSONStringScan``).
    @inline(__always)
    mutating func skipPlainBytes() {
        guard let base = input.baseAddress else { return }
        JSONStringScan.skipPlain(base, &position, end: input.count)
    }

    /// ``skipPlainBytes()`` that also appends the bytes it passes to ``lineBuffer`` at `count`,
    /// unescaping one-byte escapes on the way where it can. Safe because unescaping never
    /// lengthens a string: `count` stays at most `position`, and the buffer is as long as the
    /// input.
    @inline(__always)
    mutating func copyPlainBytes(count: inout Int) {
        guard let base = input.baseAddress else { return }
        JSONStringScan.copyUnescaping(base, &position, end: input.count, into: lineBuffer, &count, shuffling: blockShuffle)
    }

    /// Skips a string (of an ignored value) without keeping its bytes.
    mutating func skipString() throws(RecordDecodeError) {
        try expect(UInt8(ascii: "\""), "a string")
        var scratch: [UInt8] = []
        while let byte = next() {
            switch byte {
            case UInt8(ascii: "\""): return
            case UInt8(ascii: "\\"):
                scratch.removeAll(keepingCapacity: true)
                try escape(into: &scratch)
            case 0x00..<0x20:
                position -= 1
                throw fail("unescaped control character in a string")
            default: continue
            }
        }
        throw fail("unterminated string")
    }

    private mutating func escape(into target: inout [UInt8]) throws(RecordDecodeError) {
        target.append(contentsOf: try escapedScalar())
    }

    /// The UTF-8 of the escape after a backslash (positioned after it).
    private mutating func escapedScalar() throws(RecordDecodeError) -> UTF8.EncodedScalar {
        guard let byte = next() else { throw fail("unterminated escape") }
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): return UTF8.encode(Unicode.Scalar(byte))!
        case UInt8(ascii: "b"): return UTF8.encode(Unicode.Scalar(UInt8(0x08)))!
        case UInt8(ascii: "f"): return UTF8.encode(Unicode.Scalar(UInt8(0x0C)))!
        case UInt8(ascii: "n"): return UTF8.encode(Unicode.Scalar(UInt8(0x0A)))!
        case UInt8(ascii: "r"): return UTF8.encode(Unicode.Scalar(UInt8(0x0D)))!
        case UInt8(ascii: "t"): return UTF8.encode(Unicode.Scalar(UInt8(0x09)))!
        case UInt8(ascii: "u"):
            var scalar = try hex4()
            if (0xD800..<0xDC00).contains(scalar) {
                guard next() == UInt8(ascii: "\\"), next() == UInt8(ascii: "u") else {
                    throw fail("high surrogate \\u\(String(scalar, radix: 16)) without a low surrogate")
                }
                let low = try hex4()
                guard (0xDC00..<0xE000).contains(low) else { throw fail("invalid low surrogate") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(scalar) {
                throw fail("low surrogate without a high surrogate")
            }
            guard let unicode = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
            return UTF8.encode(unicode)!
        default:
            throw fail("invalid escape '\\\(Character(Unicode.Scalar(byte)))'", back: 1)
        }
    }

    private mutating func hex4() throws(RecordDecodeError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = next() else { throw fail("truncated \\u escape") }
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw fail("invalid hex digit in a \\u escape", back: 1)
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// Skips any JSON value, checking its syntax.
    mutating func skipValue() throws(RecordDecodeError) {
        skipWhitespace()
        guard let first = peek() else { throw fail("expected a value") }
        switch first {
        case UInt8(ascii: "{"): try object(skipping: true) { (parser, _) throws(RecordDecodeError) in try parser.skipValue() }
        case UInt8(ascii: "["): try array { (parser) throws(RecordDecodeError) in try parser.skipValue() }
        case UInt8(ascii: "\""):
            try skipString()
        case UInt8(ascii: "t"): if !matchLiteral("true") { throw fail("invalid literal") }
        case UInt8(ascii: "f"): if !matchLiteral("false") { throw fail("invalid literal") }
        case UInt8(ascii: "n"): if !matchLiteral("null") { throw fail("invalid literal") }
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let start = position
            while let byte = peek(), byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            {
                position += 1
            }
            guard Double(String(decoding: UnsafeBufferPointer(rebasing: input[start..<position]), as: UTF8.self)) != nil else {
                position = start
                throw fail("invalid number")
            }
        default:
            throw fail("expected a value")
        }
    }

    // MARK: - Bytes

    @discardableResult
    mutating func skipWhitespace() -> Bool {
        while position < input.count {
            switch input[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return true
            }
        }
        return true
    }

    /// Consumes a ',' (the caller saw it) and the whitespace after it; always true.
    mutating func skipComma() -> Bool {
        position += 1
        return skipWhitespace()
    }

    func peek() -> UInt8? { position < input.count ? input[position] : nil }

    mutating func next() -> UInt8? {
        guard position < input.count else { return nil }
        defer { position += 1 }
        return input[position]
    }

    mutating func matchLiteral(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard position + count <= input.count else { return false }
        for index in 0..<count where input[position + index] != literal.utf8Start[index] { return false }
        position += count
        return true
    }

    /// Consumes `byte`, after whitespace. Runs a few times per entry: the usual case (the byte
    /// right here) is inlined, the rest is not.
    @inline(__always)
    mutating func expect(_ byte: UInt8, _ what: StaticString) throws(RecordDecodeError) {
        if position < input.count, input[position] == byte {
            position += 1
            return
        }
        try expectAfterWhitespace(byte, what)
    }

    @inline(never)
    mutating func expectAfterWhitespace(_ byte: UInt8, _ what: StaticString) throws(RecordDecodeError) {
        skipWhitespace()
        guard peek() == byte else { throw fail("expected \(what)") }
        position += 1
    }

    /// An error naming the byte offset (after backing up `back` bytes).
    func fail(_ message: String, back: Int = 0) -> RecordDecodeError {
        let at = max(0, position - back)
        if at >= input.count { return RecordDecodeError(.json, "\(message) at the end of the body (byte \(at))") }
        return RecordDecodeError(.json, "\(message) at byte \(at)")
    }
}
