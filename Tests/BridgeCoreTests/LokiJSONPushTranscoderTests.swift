import BridgeCore
import CJSONBlockShuffle
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The transcoder must accept exactly what the Codable decoder accepts and produce the bytes
/// PushBodyBuilder makes from the decoder's streams: a differential test over hand-picked edge
/// cases, generated bodies, and corrupted copies of them.
@Suite("LokiJSONPushTranscoder: JSON push bodies straight to protobuf")
struct LokiJSONPushTranscoderTests {
    /// The line scan without and, where the CPU has SSSE3, with the block shuffle.
    static let shuffleTiers: [Bool] = kafka_loki_cpu_has_ssse3() != 0 ? [false, true] : [false]

    /// Compares both decoders on one body; returns whether it was valid.
    ///
    /// Where the CPU has the SSSE3 block shuffle, the transcoder uses it, and the body is also
    /// transcoded without it: both must give the same answer.
    @discardableResult
    static func agree(_ json: [UInt8], _ comment: Comment? = nil) -> Bool {
        let reference: [LokiStream]? = try? LokiJSONPushDecoder.decode(json)
        let fast = try? LokiJSONPushTranscoder.transcode(json)
        let withoutShuffle = try? LokiJSONPushTranscoder.transcode(json, blockShuffle: false)
        #expect(fast?.1 == withoutShuffle?.1, comment)
        #expect(fast?.0 == withoutShuffle?.0, comment)
        guard let reference else {
            #expect(fast == nil, "transcoder accepted a body the decoder refuses: \(String(decoding: json, as: UTF8.self).prefix(300))")
            return false
        }
        guard let (summary, wire) = fast else {
            let error = (try? LokiJSONPushTranscoder.transcode(json)).map { _ in "" } ?? errorText(json)
            Issue.record("transcoder refused a valid body (\(error)): \(String(decoding: json, as: UTF8.self).prefix(300))")
            return true
        }
        var expected: [UInt8] = []
        PushBodyBuilder.appendStreams(reference, to: &expected)
        #expect(wire == expected, comment)
        #expect(summary.streams == reference.count)
        #expect(summary.entries == reference.reduce(0) { $0 + $1.entries.count })
        #expect(summary.lineBytes == reference.reduce(0) { $0 + $1.entries.reduce(0) { $0 + $1.line.utf8.count } })
        // The validator trusts these bounds: they must be what a scan of the output finds.
        #expect(summary.bounds == (try? LokiProtobufScanner.scan(wire).0.bounds), comment)
        return true
    }

    static func errorText(_ json: [UInt8]) -> String {
        do {
            _ = try LokiJSONPushTranscoder.transcode(json)
            return ""
        } catch {
            return error.detail
        }
    }

    @Test("edge cases agree with the Codable decoder", arguments: [
        #"{"streams":[{"stream":{"app":"api","env":"prod"},"values":[["1700000000000000001","hello"],["1700000000000000002","w\u00f6rld \ud83d\ude00"]]}]}"#,
        #"{"streams":[{"stream":{"a":"1"},"values":[[1700000000000000001,"n"],[-5,"m"]]}]}"#,
        #"{"streams":[{"stream":{"msg":"say \"hi\" \\ now\nnext\ttab\r","b":"2","a":"ü"},"values":[]}]}"#,
        #"{"streams":[{"stream":{"n":"2"},"values":[["1","x"]]},{"stream":{"n":"1"},"values":[["2","y"]]}]}"#,
        #"{"streams":[{"labels":"{app=\"x\", env=\"dev\"}","entries":[{"ts":"2018-12-18T08:28:06.801064-04:00","line":"hello"},{"ts":"1970-01-01T00:00:01Z","line":"b"}]}]}"#,
        #"{"streams":[]}"#, "{}", #"{"streams":null}"#, #"{"streams":[{"stream":{"a":"b"},"values":[["12x","line"]]}]}"#,
        #"{"streams":[{"stream":{"a":"b"},"values":[["1.5","line"]]}]}"#, #"{"streams":[{"stream":{"a":"b"},"values":[["1"]]}]}"#,
        #"{"streams":[{"stream":{"a":"b"},"values":[["1",7]]}]}"#,
        #"{"streams":[{"labels":"{a=\"b\"}","entries":[{"ts":"yesterday","line":"x"}]}]}"#,
        #"{"streams":[{"values":[["1","x"]]}]}"#, #"{"streams":[{"stream":{"a":1},"values":[]}]}"#, #"{"streams":"#,
        #"  {"other":[1,2.5e3,{"x":[true,false,null]}],"streams":[{"values":[["5","late key order"]],"stream":{"k":"v"},"extra":"x"}] } "#,
        #"{"streams":[{"stream":{"k":"v"},"values":[["5","l",{"trace_id":"abc","a":"z"}],["6","m",null],["7","n",{},"ignored"]]}]}"#,
        #"{"streams":[{"stream":{"k":"v"},"values":null},{"stream":null,"labels":"{x=\"1\"}","entries":null}]}"#,
        #"{"streams":[{"stream":{"k":"v"},"values":[["1","ctl \u0000 nul"]]}]}"#,
        #"{"streams":[{"stream":{"k":"v"},"values":[["1","lone \ud800 surrogate"]]}]}"#,
        #"{"streams":[{"stream":{"k":"v"},"values":[["1","bad \x escape"]]}]}"#,
        #"{"streams":[{"stream":{"k":"v"},"values":[["1","raw"#,
        #"{"streams":[{"stream":{"k":"v"},"values":[["1","x"]]}]} trailing"#,
        #"{"streams":[{"stream":{"k":"v"},"values":[["-1","before 1970"]]}]}"#,
        #"{"streams":[{"stream":{"k":"v",},"values":[["1","trailing commas",],]},],}"#,
        #"{"streams":[{"stream":{"k":"v"},"values":[["9223372036854775808","overflow"]]}]}"#,
        #"{"streams":[{"stream":{"k":"v"},"values":[["9223372036854775807","max"],["00000000000000000000042","zeros"]]}]}"#,
        #"{"streams":[{"stream":{"k":"v"},"values":[["99999999999999999999","20 digits"],["18446744073709551616","2^64"]]}]}"#,
        #"{"streams":[{"stream":{"k":"v"},"values":[["","empty"]]}]}"#, #"{"streams":[{"stream":{"k":"v"},"values":[["1 ","space"]]}]}"#,
        // Timestamps read eight digits per word: a byte next to '0'…'9' in ASCII ('/', ':') in
        // either word, and every length around the words.
        #"{"streams":[{"stream":{"k":"v"},"values":[["1234567/","a"],["12345678:","b"],["123456789012345/7","c"]]}]}"#,
        #"{"streams":[{"stream":{"k":"v"},"values":[["12345678","a"],["123456789","b"],["1234567890123456","c"],["12345678901234567","d"]]}]}"#,
        #"{"streams":[{"stream":{"k":"v"},"values":[["9999999999999999999","19 nines"],["1000000000000000000","e18"],["0000000000000000001","zeros"]]}]}"#,
        // Label objects: names that sort by bytes, escaped names, non-ASCII names.
        #"{"streams":[{"stream":{"b":"1","a":"2","ab":"4","A":"5","a_":"6"},"values":[["1","x"]]}]}"#,
        #"{"streams":[{"stream":{"q\"uote":"v","back\\slash":"w","new\nline":"x"},"values":[["1","x"]]}]}"#,
        #"{"streams":[{"stream":{"\u00e9":"1","e":"2","z":"3","\u00e0":"4"},"values":[["1","x"]]}]}"#,
        #"{"streams":[{"stream":{"k":"tab\t cr\r lf\n nul\u0000 quote\" back\\ slash\/"},"values":[["1","x"]]}]}"#,
        #"{"streams":[{"stream":{ "k" : "v" , "j":"w" },"values":[["1","x"]]}]}"#,
        #"{"streams":[{"stream":{},"values":[["1","x"]]}]}"#,
    ])
    func edgeCases(_ json: String) {
        Self.agree(Array(json.utf8))
    }

    /// Foundation's decoder (the reference) keeps the first of repeated object keys and does not
    /// even read the others; Go's encoding/json, which Loki uses, keeps the last. The transcoder
    /// follows Loki.
    @Test("a repeated label name keeps its last value, as in Loki")
    func repeatedLabelNames() throws {
        let json = #"{"streams":[{"stream":{"b":"1","a":"2","b":"3"},"values":[["1","x"]]}]}"#
        let (_, wire) = try LokiJSONPushTranscoder.transcode(Array(json.utf8))
        var expected: [UInt8] = []
        PushBodyBuilder.appendStreams(
            [LokiStream(labels: #"{a="2", b="3"}"#, entries: [LokiEntry(timestampNanos: 1, line: "x")])], to: &expected)
        #expect(wire == expected)
        #expect(Self.errorText(Array(#"{"streams":[{"stream":{"a":"1","a":2},"values":[]}]}"#.utf8)).contains("string"))
    }

    @Test("invalid UTF-8 and raw control characters are refused, like the Codable decoder")
    func rawBytes() {
        let prefix = Array(#"{"streams":[{"stream":{"k":"v"},"values":[["1",""#.utf8)
        let suffix = Array(#""]]}]}"#.utf8)
        #expect(!Self.agree(prefix + [0xC3, 0x28] + suffix))
        #expect(!Self.agree(prefix + [0x0A] + suffix))
        #expect(Self.agree(prefix + Array("é€😀".utf8) + suffix))
    }

    /// The line scanner skips eight plain bytes at a time: a byte that needs attention must be
    /// found at every position of a word, and near the end of the body.
    @Test("every special byte is seen at every offset of the word-at-a-time scan")
    func specialBytesAtEveryOffset() {
        let prefix = Array(#"{"streams":[{"stream":{"k":"v"},"values":[["1",""#.utf8)
        let suffix = Array(#""]]}]}"#.utf8)
        let specials: [[UInt8]] = [
            Array(#"""#.utf8), Array(#"\"#.utf8), Array(#"é"#.utf8), Array("é".utf8), [0x01], [0x1F], [0xFF],
            [0x7F], Array(" ".utf8), [0x21], [0x23], [0x5B], [0x5D],
        ]
        for special in specials {
            for offset in 0..<24 {
                let line = Array(repeating: UInt8(ascii: "a"), count: offset) + special + Array(repeating: UInt8(ascii: "b"), count: 9)
                Self.agree(prefix + line + suffix)
                Self.agree(prefix + Array(repeating: UInt8(ascii: "c"), count: offset) + special + suffix)
            }
        }
    }

    @Test("errors say what and where")
    func errorMessages() {
        #expect(Self.errorText(Array("{}".utf8)).contains("streams"))
        #expect(Self.errorText(Array(#"{"streams":[{"stream":{"a":"b"},"values":[["12x","l"]]}]}"#.utf8)).contains("12x"))
        #expect(Self.errorText(Array(#"{"streams":[{"values":[]}]}"#.utf8)).contains("neither"))
        #expect(Self.errorText(Array(#"{"streams":[}"#.utf8)).contains("byte 12"))
    }

    @Test("escaped lines: plain runs of every length around a word, then a plain line reusing the buffer")
    func escapedRuns() {
        // The escaped-line path stores whole 8-byte words and keeps only the plain bytes: runs of
        // 0 to 20 bytes between escapes put every escape at every offset within a word.
        for run in 0...20 {
            let plain = String(repeating: "x", count: run)
            let line = (0..<6).map { index in plain + ["\\\"", "\\n", "\\u00e9", "ü", "\\\\", "\\t"][index] }.joined() + plain
            let body = #"{"streams":[{"stream":{"a":"1"},"values":[["1","\#(line)"],["2","\#(plain)plain"],["3","\#(line)\#(line)"]]}]}"#
            #expect(Self.agree(Array(body.utf8), "run of \(run)"))
            // Cut inside the last line, at every position: refused like the decoder does, and
            // never reading or writing past the input (the word loop stops 8 bytes before it).
            let bytes = Array(body.utf8)
            let lastLine = bytes.count - 6 - 2 * line.utf8.count
            for cut in lastLine..<(bytes.count - 5) {
                #expect(!Self.agree(Array(bytes[..<cut]), "cut at \(cut) of run \(run)"))
            }
        }
    }

    /// Well-formed UTF-8 stays in the 16-byte loop's plain runs (checked character by character
    /// out of line), and a character may end in the next block, which then starts after it:
    /// every sequence, well-formed or not (truncated, overlong, a surrogate, past U+10FFFF, a
    /// lone continuation byte, cut by the closing quote), at every offset of a block, after a
    /// lead that starts the loop at an escape, at non-ASCII text, or not at all.
    @Test("UTF-8, well-formed or not, at every offset of a 16-byte block")
    func utf8AtEveryBlockOffset() {
        let wellFormed: [[UInt8]] = [
            Array("é".utf8), Array("€".utf8), Array("😀".utf8), Array("ééééééééééééé".utf8), Array("Пр😀€ü".utf8),
            Array("é\\\"ü\\nж".utf8), Array("\u{7FF}\u{800}\u{FFFF}\u{10000}\u{10FFFF}".utf8),
        ]
        let illFormed: [[UInt8]] = [
            [0xC3, 0x62], [0xC0, 0xAF], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0x80],
            [0xFF], [0xC3], [0xE2, 0x82], [0xF0, 0x9F, 0x98], Array("éé".utf8) + [0xE2, 0x82, 0x78],
        ]
        let tails = ["", "b", String(repeating: "b", count: 15), String(repeating: "b", count: 17), String(repeating: "ü", count: 20)]
        var valid = 0
        for lead in [#"\t"#, "ü", ""] {
            for sequence in wellFormed + illFormed {
                for offset in 0..<40 {
                    for tail in tails {
                        let line = Array(lead.utf8) + Array(repeating: UInt8(ascii: "a"), count: offset) + sequence + Array(tail.utf8)
                        let body = Array(#"{"streams":[{"stream":{"a":"1"},"values":[["1",""#.utf8) + line
                            + Array(#""],["2","after"]]}]}"#.utf8)
                        if Self.agree(body, "\(lead) \(sequence) at \(offset) before \(tail.count) characters") { valid += 1 }
                    }
                }
            }
        }
        #expect(valid == 3 * wellFormed.count * 40 * tails.count)
    }

    /// On x86-64 escaped lines are read 16 bytes at a time, and the escapes of a block are taken
    /// from its mask without reading the block again (`JSONStringScan.copyUnescaping`): every
    /// escape sequence must be unescaped at every offset of a block, including an escape whose
    /// second byte is in the next block and runs of escaped backslashes (whose second backslash
    /// must not start an escape, and whose quote after them must not end the string). The
    /// plain scan stops at a line's first escape, where the first block then begins: with a
    /// leading escape, the sequence after `offset` plain bytes sits at every index of that block
    /// and the next ones.
    @Test("escape sequences at every offset of a 16-byte block, followed by runs of every kind")
    func escapesAtEveryBlockOffset() {
        let sequences = [
            #"\""#, #"\\"#, #"\\\""#, #"\\\\"#, #"\\\\\""#, #"\n\t\/\b\f\r"#, #"\u00e9"#, #"\ud83d\ude00"#,
            #"\"\"\"\"\"\"\"\"\"\""#, "ü€", #"\"é\n"#, "\u{7F}", #"\x"#, #"\u00g1"#, "\u{01}",
        ]
        let tails = ["", "b", String(repeating: "b", count: 15), String(repeating: "b", count: 16), String(repeating: "b", count: 17), String(repeating: #"c\""#, count: 20)]
        var valid = 0
        for lead in [#"\t"#, ""] {
            for sequence in sequences {
                for offset in 0..<40 {
                    for tail in tails {
                        let line = lead + String(repeating: "a", count: offset) + sequence + tail
                        let body = #"{"streams":[{"stream":{"a":"1"},"values":[["1","\#(line)"],["2","after"]]}]}"#
                        if Self.agree(Array(body.utf8), "\(lead)\(sequence) at \(offset) before \(tail.count) bytes") { valid += 1 }
                    }
                }
            }
        }
        // Everything but the two invalid escapes and the raw control character is valid.
        #expect(valid == 2 * (sequences.count - 3) * 40 * tails.count)
    }

    /// The scans read 8 and 16 bytes at once, and a record's body ends where its buffer ends:
    /// a body whose last byte is the last before a page the process may not read (`PROT_NONE`)
    /// must be transcoded as from anywhere else, whole or cut inside its line. A read past the
    /// end is a crash here, not a silent wrong answer.
    @Test("bodies that end at a guard page are read without touching it")
    func bodiesEndingAtAGuardPage() throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let region = try #require(mmap(nil, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        try #require(region != MAP_FAILED)
        defer { munmap(region, 2 * page) }
        try #require(mprotect(region + page, page, PROT_NONE) == 0)
        let guardStart = region.advanced(by: page).assumingMemoryBound(to: UInt8.self)
        var checked = 0
        for plain in 0..<40 {
            for escaped in [#"\""#, #"\\"#, "é", "", String(repeating: #"\"x"#, count: 9)] {
                let line = #"\t"# + String(repeating: "x", count: plain) + escaped + String(repeating: "y", count: plain % 7)
                let body = Array(#"{"streams":[{"stream":{"a":"1"},"values":[["1","\#(line)"]]}]}"#.utf8)
                // The whole body, and every cut from just before the line to its end.
                let lineEnd = body.count - 6
                for length in [body.count] + Array((lineEnd - line.utf8.count - 2)..<lineEnd) {
                    let start = guardStart - length
                    body.withUnsafeBufferPointer { start.update(from: $0.baseAddress!, count: length) }
                    for shuffle in Self.shuffleTiers {
                        var labels = ByteMemo<[UInt8]>()
                        let atGuard = try? LokiJSONPushTranscoder.transcode(
                            UnsafeBufferPointer(start: start, count: length), labels: &labels, blockShuffle: shuffle)
                        let elsewhere = try? LokiJSONPushTranscoder.transcode(Array(body[..<length]))
                        #expect(atGuard?.1 == elsewhere?.1, "line \(line), \(length) of \(body.count) bytes, shuffle \(shuffle)")
                        #expect((atGuard == nil) == (length != body.count))
                        checked += 1
                    }
                }
            }
        }
        #expect(checked > 1000)
    }

    /// Streams are written in place behind a two-byte length: lengths below 128 and from
    /// 16,384 need another size, so every length around both edges is tried.
    @Test("stream lengths around the one-, two- and three-byte length edges")
    func streamLengthEdges() {
        for lineLength in Array(80...140) + Array(16_300...16_420) {
            let line = String(repeating: "x", count: lineLength)
            #expect(Self.agree(Array(#"{"streams":[{"stream":{"a":"b"},"values":[["1","\#(line)"]]},{"stream":{"c":"d"},"values":[["2","e"]]}]}"#.utf8)))
        }
    }

    @Test("generated bodies and corrupted copies agree with the Codable decoder")
    func generated() {
        var random = SplitMix64(seed: 0x5EED)
        var valid = 0
        var corruptedValid = 0
        for _ in 0..<3000 {
            let body = Self.body(&random)
            #expect(Self.agree(body), "a generated body must be valid")
            valid += 1
            var corrupted = body
            switch random.next() % 3 {
            case 0: corrupted.removeLast(Int(random.next() % UInt64(corrupted.count)))
            case 1: corrupted[Int(random.next() % UInt64(corrupted.count))] = UInt8(truncatingIfNeeded: random.next())
            default: corrupted.insert(Array("\",\\{}[]:n".utf8)[Int(random.next() % 9)], at: Int(random.next() % UInt64(corrupted.count)))
            }
            if Self.agree(corrupted) { corruptedValid += 1 }
        }
        #expect(valid == 3000)
        #expect(corruptedValid < 3000, "corruption must make some bodies invalid")
    }

    static func body(_ random: inout SplitMix64) -> [UInt8] {
        func text(_ random: inout SplitMix64, _ length: Int) -> String {
            let pieces = [
                "a", "Z", "0", " ", "=", "{", "}", "ü", "€", "😀", "\\\"", "\\\\", "\\n", "\\t", "\\/", "\\u00e9",
                "\\ud83d\\ude00", "\\u0001", "msg", "level=info",
            ]
            return (0..<length).map { _ in pieces[Int(random.next() % UInt64(pieces.count))] }.joined()
        }
        func space(_ random: inout SplitMix64) -> String { random.next() % 4 == 0 ? " \n\t" : "" }
        var streams: [String] = []
        for _ in 0..<(1 + random.next() % 4) {
            let legacy = random.next() % 6 == 0
            if legacy {
                let entries = (0..<(random.next() % 4)).map { _ in
                    #"{"ts":"2026-11-21T10:00:0\#(random.next() % 10).\#(random.next() % 1000)Z",\#(space(&random))"line":"\#(text(&random, Int(random.next() % 12)))"}"#
                }
                streams.append(#"{"labels":"{app=\"x\"}","entries":[\#(entries.joined(separator: ","))]}"#)
                continue
            }
            let labels = (0..<(1 + random.next() % 4)).map { index in
                #""l\#(index)\#(random.next() % 3)":\#(space(&random))"\#(text(&random, Int(random.next() % 6)))""#
            }
            let values = (0..<(random.next() % 6)).map { _ -> String in
                let nanos = Int64(bitPattern: random.next() >> 2)
                let ts = random.next() % 2 == 0 ? "\"\(nanos)\"" : "\(nanos)"
                var value = "[\(ts),\(space(&random))\"\(text(&random, Int(random.next() % 20)))\""
                if random.next() % 4 == 0 { value += #",{"trace_id":"\#(text(&random, 3))","a":"1"}"# }
                return value + "]"
            }
            var members = [#""stream":{\#(labels.joined(separator: ","))}"#, #""values":[\#(values.joined(separator: ","))]"#]
            if random.next() % 3 == 0 { members.append(#""unknown":[1,{"x":null},"s",-2.5e3,true]"#) }
            if random.next() % 2 == 0 { members.reverse() }
            streams.append("{\(space(&random))\(members.joined(separator: ","))}")
        }
        let separator = "," + space(&random)
        return Array((#"{"streams":["# + streams.joined(separator: separator) + "]}").utf8)
    }
}
