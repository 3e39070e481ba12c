/// Minimal protobuf wire-format reading over a byte buffer.
///
/// Enough to walk Loki's PushRequest without materialising it: the fast path forwards the
/// received bytes and only needs to validate them and count entries. See
/// https://protobuf.dev/programming-guides/encoding/ for the format.
package struct ProtoWireReader: ~Copyable {
    private let bytes: UnsafeBufferPointer<UInt8>
    /// Current read position.
    package private(set) var position: Int
    private let end: Int

    /// A reader over `bytes[start..<end]`.
    package init(_ bytes: UnsafeBufferPointer<UInt8>, start: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        self.position = start
        self.end = end ?? bytes.count
    }

    /// True when every byte has been read.
    package var isAtEnd: Bool { position >= end }

    /// Reads a base-128 varint.
    package mutating func readVarint() throws(RecordDecodeError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while position < end {
            let byte = bytes[position]
            position += 1
            if shift == 63 && byte > 1 { break }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { break }
        }
        throw RecordDecodeError(.protobuf, "truncated or overlong varint at byte \(position)")
    }

    /// Reads a field key, returning field number and wire type.
    package mutating func readTag() throws(RecordDecodeError) -> (field: UInt64, wireType: UInt8) {
        let key = try readVarint()
        let field = key >> 3
        guard field != 0 else { throw RecordDecodeError(.protobuf, "field number 0 at byte \(position)") }
        return (field, UInt8(key & 7))
    }

    /// Reads a length prefix and returns the range of the length-delimited payload.
    package mutating func readLengthDelimited() throws(RecordDecodeError) -> Range<Int> {
        let length = try readVarint()
        guard length <= UInt64(end - position) else {
            throw RecordDecodeError(.protobuf, "length \(length) runs past the end of the message")
        }
        let start = position
        position += Int(length)
        return start..<position
    }

    /// Skips a field's value of the given wire type.
    package mutating func skip(wireType: UInt8) throws(RecordDecodeError) {
        switch wireType {
        case 0: _ = try readVarint()
        case 1: try advance(8)
        case 2: _ = try readLengthDelimited()
        case 5: try advance(4)
        default: throw RecordDecodeError(.protobuf, "unsupported wire type \(wireType)")
        }
    }

    private mutating func advance(_ count: Int) throws(RecordDecodeError) {
        guard end - position >= count else {
            throw RecordDecodeError(.protobuf, "fixed-size field runs past the end of the message")
        }
        position += count
    }
}

/// Appends protobuf wire-format primitives to a byte array.
package enum ProtoWireWriter {
    /// Appends a base-128 varint.
    @inlinable
    package static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        guard value >= 0x80 else { return out.append(UInt8(value)) }
        // Built on the stack and appended once: an append per byte costs a uniqueness and a
        // capacity check each (measurable in the JSON transcoder, a few varints per line).
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 10) { buffer in
            let count = writeVarint(value, into: buffer, at: 0)
            out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[..<count]))
        }
    }

    /// Writes `value` as a base-128 varint into `buffer` from `index` (uninitialized trivial
    /// bytes are fine; at most 10 are written) and returns the index after it.
    @inlinable
    package static func writeVarint(_ value: UInt64, into buffer: UnsafeMutableBufferPointer<UInt8>, at index: Int) -> Int {
        var value = value
        var index = index
        while value >= 0x80 {
            buffer.initializeElement(at: index, to: UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
            index += 1
        }
        buffer.initializeElement(at: index, to: UInt8(value))
        return index + 1
    }

    /// The number of bytes `appendVarint` writes for `value`.
    @inlinable
    package static func varintSize(_ value: UInt64) -> Int {
        (64 - (value | 1).leadingZeroBitCount + 6) / 7
    }

    /// Appends a length-delimited field (tag, length, bytes).
    @inlinable
    package static func appendLengthDelimited(
        field: UInt64, _ payload: some Collection<UInt8>, to out: inout [UInt8]
    ) {
        appendVarint(field << 3 | 2, to: &out)
        appendVarint(UInt64(payload.count), to: &out)
        out.append(contentsOf: payload)
    }
}
