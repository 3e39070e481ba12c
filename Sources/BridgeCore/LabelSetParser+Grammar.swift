/// The lexer and parser behind ``LabelSetParser``, over one label text; its checks are in
/// `LabelSetParser+Checks.swift`.
struct LabelTextParser: ~Copyable {
    let input: UnsafeBufferPointer<UInt8>
    var i = 0
    var scratch = LabelSetParser.Scratch()

    init(input: UnsafeBufferPointer<UInt8>) { self.input = input }

    var n: Int { input.count }

    // MARK: Grammar

    mutating func run() throws(LabelSetError) {
        scratch.bytes.removeAll(keepingCapacity: true)
        scratch.labels.removeAll(keepingCapacity: true)
        skipSpace()
        if i < n, LabelTextByte.isMetricNameStart(input[i]) {
            try metricName()
            skipSpace()
        }
        guard i < n else { return }
        guard input[i] == LabelTextByte.openBrace else {
            throw .syntax(offset: i, detail: "unexpected \(describe(i)), expected '{'")
        }
        i += 1
        skipSpace()
        guard i < n else { throw endInsideBraces() }
        if input[i] == LabelTextByte.closeBrace {
            i += 1
        } else {
            while true {
                try item()
                skipSpace()
                guard i < n else { throw endInsideBraces() }
                if input[i] == LabelTextByte.closeBrace {
                    i += 1
                    break
                }
                guard input[i] == LabelTextByte.comma else {
                    throw .syntax(offset: i, detail: "unexpected \(describe(i)) in label set, expected ',' or '}'")
                }
                i += 1
                skipSpace()
                guard i < n else { throw endInsideBraces() }
                if input[i] == LabelTextByte.closeBrace {
                    i += 1
                    break
                }
            }
        }
        skipSpace()
        guard i == n else { throw .syntax(offset: i, detail: "unexpected \(describe(i)) after the label set") }
    }

    private mutating func metricName() throws(LabelSetError) {
        let start = i
        while i < n, LabelTextByte.isMetricNameChar(input[i]) { i += 1 }
        if i < n, !LabelTextByte.isDelimiter(input[i]) { throw badName(from: start) }
        let value = append(start..<i)
        let name = append(literal: "__name__")
        scratch.labels.append(LabelSetParser.ParsedLabel(name: name, value: value))
    }

    private mutating func item() throws(LabelSetError) {
        let start = i
        let first = input[i]
        let name: Range<Int>
        if LabelTextByte.isQuote(first) {
            name = try string()
            skipSpace()
            if i < n, input[i] == LabelTextByte.comma || input[i] == LabelTextByte.closeBrace {
                // `{"metric.name", …}`: a quoted metric name (Prometheus 3).
                let label = append(literal: "__name__")
                scratch.labels.append(LabelSetParser.ParsedLabel(name: label, value: name))
                return
            }
            guard !name.isEmpty else { throw .invalidName(offset: start, name: "") }
        } else if LabelTextByte.isNameStart(first) {
            var end = i
            while end < n, LabelTextByte.isNameChar(input[end]) { end += 1 }
            if end < n, !LabelTextByte.isDelimiter(input[end]) { throw badName(from: start) }
            name = append(i..<end)
            i = end
            skipSpace()
        } else if LabelTextByte.isDelimiter(first) {
            throw .syntax(offset: i, detail: "unexpected \(describe(i)) in label set, expected a label name or '}'")
        } else {
            throw badName(from: start)
        }
        guard i < n else { throw endInsideBraces() }
        let next = i + 1 < n ? input[i + 1] : 0
        switch input[i] {
        case LabelTextByte.equals where next != LabelTextByte.tilde:
            i += 1
        case LabelTextByte.equals, LabelTextByte.bang:
            let op = String(decoding: UnsafeBufferPointer(rebasing: input[i..<min(i + 2, n)]), as: UTF8.self)
            throw .syntax(
                offset: i,
                detail: "matcher '\(op)' after label name '\(text(name))': a stream's labels only take '='"
            )
        default:
            throw .syntax(offset: i, detail: "unexpected \(describe(i)) after label name '\(text(name))', expected '='")
        }
        skipSpace()
        guard i < n else { throw endInsideBraces() }
        guard LabelTextByte.isQuote(input[i]) else {
            throw .syntax(
                offset: i,
                detail: "unexpected \(describe(i)) as value of label '\(text(name))', expected a quoted string"
            )
        }
        let value = try string()
        scratch.labels.append(LabelSetParser.ParsedLabel(name: name, value: value))
    }

    // MARK: Strings

    /// Reads a quoted string at `i`, appending its decoded bytes to the scratch buffer.
    private mutating func string() throws(LabelSetError) -> Range<Int> {
        let open = i
        let quote = input[i]
        let raw = quote == LabelTextByte.backtick
        i += 1
        let start = scratch.bytes.count
        var producedBytes = false
        while true {
            let runStart = i
            while i < n {
                let byte = input[i]
                if byte == quote || byte == LabelTextByte.backslash || byte == LabelTextByte.newline || byte >= 0x80 {
                    break
                }
                i += 1
            }
            if i > runStart { scratch.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: input[runStart..<i])) }
            guard i < n else {
                throw .syntax(offset: open, detail: raw ? "unterminated raw string" : "unterminated quoted string")
            }
            let byte = input[i]
            if byte == quote {
                i += 1
                break
            } else if byte >= 0x80 {
                let length = UTF8Check.sequenceLength(input, at: i, end: n)
                guard length > 0 else {
                    throw .invalidUTF8(
                        offset: i,
                        detail: "invalid UTF-8 (byte 0x\(LabelTextByte.hex(byte))) in a quoted string"
                    )
                }
                if length == 3, input[i] == 0xEF, input[i + 1] == 0xBF, input[i + 2] == 0xBD {
                    throw .invalidUTF8(
                        offset: i,
                        detail: "literal U+FFFD in a quoted string, which Prometheus' lexer refuses as an "
                            + "invalid UTF-8 rune"
                    )
                }
                scratch.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: input[i..<(i + length)]))
                i += length
            } else if raw {
                scratch.bytes.append(byte)
                i += 1
            } else if byte == LabelTextByte.newline {
                throw .syntax(
                    offset: open,
                    detail: "unterminated quoted string (a newline inside \"…\" or '…' must be written \\n)"
                )
            } else {
                try escape(quote: quote, producedBytes: &producedBytes)
            }
        }
        let range = start..<scratch.bytes.count
        if producedBytes {
            let valid = scratch.bytes.withUnsafeBufferPointer { UTF8Check.isValid($0, range) }
            guard valid else {
                throw .invalidUTF8(offset: open, detail: "\\x or octal escapes in this string do not form valid UTF-8")
            }
        }
        return range
    }

    /// Decodes one escape sequence; `i` is at the backslash.
    private mutating func escape(quote: UInt8, producedBytes: inout Bool) throws(LabelSetError) {
        let at = i
        i += 1
        guard i < n else { throw .syntax(offset: at, detail: "escape sequence not terminated") }
        let letter = input[i]
        i += 1
        switch letter {
        case UInt8(ascii: "a"): scratch.bytes.append(0x07)
        case UInt8(ascii: "b"): scratch.bytes.append(0x08)
        case UInt8(ascii: "f"): scratch.bytes.append(0x0C)
        case UInt8(ascii: "n"): scratch.bytes.append(0x0A)
        case UInt8(ascii: "r"): scratch.bytes.append(0x0D)
        case UInt8(ascii: "t"): scratch.bytes.append(0x09)
        case UInt8(ascii: "v"): scratch.bytes.append(0x0B)
        case LabelTextByte.backslash, quote: scratch.bytes.append(letter)
        case UInt8(ascii: "0")...UInt8(ascii: "7"):
            i -= 1
            let value = try digits(3, base: 8, escapeAt: at)
            guard value <= 255 else { throw .syntax(offset: at, detail: "octal escape value \(value) > 255") }
            scratch.bytes.append(UInt8(value))
            producedBytes = producedBytes || value >= 0x80
        case UInt8(ascii: "x"):
            let value = try digits(2, base: 16, escapeAt: at)
            scratch.bytes.append(UInt8(value))
            producedBytes = producedBytes || value >= 0x80
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let value = try digits(letter == UInt8(ascii: "u") ? 4 : 8, base: 16, escapeAt: at)
            guard let scalar = Unicode.Scalar(value) else {
                throw .syntax(offset: at, detail: "escape sequence is an invalid Unicode code point")
            }
            UTF8.encode(scalar) { scratch.bytes.append($0) }
        default:
            throw .syntax(
                offset: at,
                detail: "unknown escape sequence \(describe(i - 1)) in a string quoted with \(describeByte(quote))"
            )
        }
    }

    private mutating func digits(_ count: Int, base: UInt32, escapeAt at: Int) throws(LabelSetError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<count {
            guard i < n else { throw .syntax(offset: at, detail: "escape sequence not terminated") }
            let digit = LabelTextByte.digitValue(input[i])
            guard digit < base else {
                throw .syntax(offset: i, detail: "illegal character \(describe(i)) in escape sequence")
            }
            value = value * base + digit
            i += 1
        }
        return value
    }

    // MARK: Helpers

    private mutating func skipSpace() {
        while i < n {
            switch input[i] {
            case LabelTextByte.space, LabelTextByte.tab, LabelTextByte.newline, LabelTextByte.carriageReturn:
                i += 1
            case LabelTextByte.hash:
                while i < n, input[i] != LabelTextByte.newline, input[i] != LabelTextByte.carriageReturn { i += 1 }
            default:
                return
            }
        }
    }

    private mutating func append(_ range: Range<Int>) -> Range<Int> {
        let start = scratch.bytes.count
        scratch.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: input[range]))
        return start..<scratch.bytes.count
    }

    private mutating func append(literal: StaticString) -> Range<Int> {
        let start = scratch.bytes.count
        scratch.bytes.append(
            contentsOf: UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        )
        return start..<scratch.bytes.count
    }

    func text(_ range: Range<Int>) -> String {
        String(decoding: scratch.bytes[range], as: UTF8.self)
    }

    /// The error for a name that runs from `start` up to the next delimiter.
    private func badName(from start: Int) -> LabelSetError {
        var end = start
        while end < n, !LabelTextByte.isDelimiter(input[end]) { end += 1 }
        let run = UnsafeBufferPointer(rebasing: input[start..<end])
        guard UTF8Check.isValid(run, 0..<run.count) else {
            return .invalidUTF8(offset: start, detail: "label name is not valid UTF-8")
        }
        return .invalidName(offset: start, name: String(decoding: run, as: UTF8.self))
    }

    private func endInsideBraces() -> LabelSetError {
        .syntax(offset: n, detail: "unexpected end of input inside braces")
    }

    private func describe(_ position: Int) -> String {
        position < n ? describeByte(input[position]) : "end of input"
    }

    private func describeByte(_ byte: UInt8) -> String {
        (0x21..<0x7F).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(LabelTextByte.hex(byte))"
    }
}

/// Byte classes of Prometheus' lexer (`isAlpha`, `isDigit`, `isSpace` in `promql/parser/lex.go`).
enum LabelTextByte {
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let newline = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")
    static let hash = UInt8(ascii: "#")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
    static let comma = UInt8(ascii: ",")
    static let equals = UInt8(ascii: "=")
    static let bang = UInt8(ascii: "!")
    static let tilde = UInt8(ascii: "~")
    static let backslash = UInt8(ascii: "\\")
    static let backtick = UInt8(ascii: "`")

    static func isQuote(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") || byte == backtick
    }

    static func isNameStart(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || byte == UInt8(ascii: "_")
    }

    static func isNameChar(_ byte: UInt8) -> Bool {
        isNameStart(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    static func isMetricNameStart(_ byte: UInt8) -> Bool { isNameStart(byte) || byte == UInt8(ascii: ":") }

    static func isMetricNameChar(_ byte: UInt8) -> Bool { isNameChar(byte) || byte == UInt8(ascii: ":") }

    /// Bytes that end a name: whitespace, operators, braces, commas, quotes and comments.
    static func isDelimiter(_ byte: UInt8) -> Bool {
        switch byte {
        case space, tab, newline, carriageReturn, hash, openBrace, closeBrace, comma, equals, bang, tilde, backtick,
            UInt8(ascii: "\""), UInt8(ascii: "'"):
            true
        default:
            false
        }
    }

    static func digitValue(_ byte: UInt8) -> UInt32 {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: 16
        }
    }

    static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
    }
}
