import BridgeCore

/// An independent protobuf writer for Loki's `PushRequest`, written from the schema
/// (`proto/push.proto`) rather than with `ProtoWireWriter`, so tests do not check the code
/// under test against itself.
enum TestWire {
    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var out: [UInt8] = []
        repeat {
            var byte = UInt8(value & 0x7F)
            value >>= 7
            if value != 0 { byte |= 0x80 }
            out.append(byte)
        } while value != 0
        return out
    }

    static func key(_ field: UInt64, _ wireType: UInt8) -> [UInt8] { varint(field << 3 | UInt64(wireType)) }

    static func lengthDelimited(_ field: UInt64, _ payload: [UInt8]) -> [UInt8] {
        key(field, 2) + varint(UInt64(payload.count)) + payload
    }

    static func string(_ field: UInt64, _ text: String) -> [UInt8] { lengthDelimited(field, Array(text.utf8)) }

    /// `Timestamp { int64 seconds = 1; int32 nanos = 2 }`, zero fields omitted (proto3).
    static func timestamp(seconds: Int64, nanos: Int32) -> [UInt8] {
        var out: [UInt8] = []
        if seconds != 0 { out += key(1, 0) + varint(UInt64(bitPattern: seconds)) }
        if nanos != 0 { out += key(2, 0) + varint(UInt64(UInt32(bitPattern: nanos))) }
        return out
    }

    /// `EntryAdapter { Timestamp timestamp = 1; string line = 2; repeated LabelPairAdapter structuredMetadata = 3 }`.
    static func entry(seconds: Int64, nanos: Int32, line: [UInt8], metadata: [(String, String)] = []) -> [UInt8] {
        var out = lengthDelimited(1, timestamp(seconds: seconds, nanos: nanos)) + lengthDelimited(2, line)
        for (name, value) in metadata { out += lengthDelimited(3, string(1, name) + string(2, value)) }
        return out
    }

    static func entry(seconds: Int64, nanos: Int32 = 0, line: String, metadata: [(String, String)] = []) -> [UInt8] {
        entry(seconds: seconds, nanos: nanos, line: Array(line.utf8), metadata: metadata)
    }

    /// `StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3 }`.
    static func stream(labels: String, entries: [[UInt8]]) -> [UInt8] {
        entries.reduce(string(1, labels)) { $0 + lengthDelimited(2, $1) }
    }

    /// `PushRequest { repeated StreamAdapter streams = 1 }`.
    static func pushRequest(_ streams: [[UInt8]]) -> [UInt8] {
        streams.reduce([]) { $0 + lengthDelimited(1, $1) }
    }
}

/// A decoded `PushRequest`, for semantic assertions on encoder output.
struct TestPushRequest: Equatable {
    struct Entry: Equatable {
        var seconds: Int64 = 0
        var nanos: Int32 = 0
        var line: [UInt8] = []
        var metadata: [LabelPair] = []
    }

    struct Stream: Equatable {
        var labels = ""
        var entries: [Entry] = []
    }

    var streams: [Stream] = []

    /// Strict decoder for the fields above; any other field or malformed input is a test failure.
    init(decoding bytes: [UInt8]) throws {
        var reader = TestReader(bytes[...])
        while !reader.isAtEnd {
            let payload = try reader.field(expecting: 1)
            var stream = Stream()
            var streamReader = TestReader(payload)
            while !streamReader.isAtEnd {
                switch try streamReader.peekField() {
                case 1: stream.labels = String(decoding: try streamReader.field(expecting: 1), as: UTF8.self)
                case 2: stream.entries.append(try Self.entry(try streamReader.field(expecting: 2)))
                default: throw TestReader.Failure(message: "unexpected StreamAdapter field")
                }
            }
            streams.append(stream)
        }
    }

    private static func entry(_ bytes: ArraySlice<UInt8>) throws -> Entry {
        var entry = Entry()
        var reader = TestReader(bytes)
        while !reader.isAtEnd {
            switch try reader.peekField() {
            case 1:
                var timestamp = TestReader(try reader.field(expecting: 1))
                while !timestamp.isAtEnd {
                    let (field, value) = try timestamp.varintField()
                    if field == 1 { entry.seconds = Int64(bitPattern: value) }
                    if field == 2 { entry.nanos = Int32(truncatingIfNeeded: value) }
                }
            case 2: entry.line = Array(try reader.field(expecting: 2))
            case 3:
                var pair = TestReader(try reader.field(expecting: 3))
                let name = String(decoding: try pair.field(expecting: 1), as: UTF8.self)
                let value = String(decoding: try pair.field(expecting: 2), as: UTF8.self)
                entry.metadata.append(LabelPair(name: name, value: value))
            default: throw TestReader.Failure(message: "unexpected EntryAdapter field")
            }
        }
        return entry
    }
}

private struct TestReader {
    struct Failure: Error { var message: String }

    var bytes: ArraySlice<UInt8>
    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

    var isAtEnd: Bool { bytes.isEmpty }

    mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while let byte = bytes.popFirst() {
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            guard shift < 64 else { break }
        }
        throw Failure(message: "bad varint")
    }

    func peekField() throws -> UInt64 {
        var copy = self
        return try copy.varint() >> 3
    }

    mutating func field(expecting number: UInt64) throws -> ArraySlice<UInt8> {
        let key = try varint()
        guard key >> 3 == number, key & 7 == 2 else { throw Failure(message: "expected field \(number)") }
        let length = Int(try varint())
        guard length <= bytes.count else { throw Failure(message: "length past end") }
        defer { bytes = bytes.dropFirst(length) }
        return bytes.prefix(length)
    }

    mutating func varintField() throws -> (UInt64, UInt64) {
        let key = try varint()
        guard key & 7 == 0 else { throw Failure(message: "expected a varint field") }
        return (key >> 3, try varint())
    }
}
