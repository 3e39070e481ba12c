/// A snappy block (the raw format of Loki protobuf push bodies) kept compressed, so that it can
/// be forwarded without decompressing and re-compressing it.
///
/// Snappy blocks concatenate. A block is `varint(uncompressed length)` followed by elements:
/// literals, and copies whose offset counts back from the current output position and may not
/// reach past the data this block has produced so far. Appended after other output, a block's
/// copies still land inside its own data. So the elements of several blocks, behind one
/// preamble with the sum of their lengths, form a valid block whose content is the
/// concatenation of theirs. See https://github.com/google/snappy/blob/main/format_description.txt
/// ("1. Preamble", "2.2. Copies"). Together with PushRequest's repeated `streams` field, this
/// lets a batch of unchanged records reach Loki as one body without any re-compression
/// (docs/performance.md measures what that saves).
package struct SnappyBlock: Sendable {
    /// The whole block as received (preamble included).
    package let bytes: [UInt8]
    /// Where the elements start: the preamble's length.
    package let elementsStart: Int
    /// The declared (and, by the caller, verified) uncompressed length.
    package let uncompressedLength: Int

    /// Wraps `bytes`, a block that decompressed to `uncompressedLength` bytes.
    ///
    /// - Returns: `nil` when the preamble does not declare `uncompressedLength`.
    package init?(verified bytes: [UInt8], uncompressedLength: Int) {
        guard let (length, preamble) = Self.readPreamble(bytes), length == uncompressedLength else { return nil }
        self.bytes = bytes
        self.elementsStart = preamble
        self.uncompressedLength = length
    }

    /// The compressed size without the preamble.
    package var elementBytes: Int { bytes.count - elementsStart }

    /// One block holding the content of `blocks`, in order.
    package static func concatenate(_ blocks: [SnappyBlock]) -> [UInt8] {
        if blocks.count == 1 { return blocks[0].bytes }
        let total = blocks.reduce(0) { $0 + $1.uncompressedLength }
        var out: [UInt8] = []
        out.reserveCapacity(10 + blocks.reduce(0) { $0 + $1.elementBytes })
        ProtoWireWriter.appendVarint(UInt64(total), to: &out)
        for block in blocks { out.append(contentsOf: block.bytes[block.elementsStart...]) }
        return out
    }

    /// The uncompressed length a block declares and the preamble's size, or `nil` when the
    /// preamble is not a varint of at most 32 bits in at most 5 bytes (snappy's limit).
    package static func readPreamble(_ bytes: [UInt8]) -> (length: Int, size: Int)? {
        bytes.withUnsafeBufferPointer { buffer in
            var reader = ProtoWireReader(buffer)
            guard let length = try? reader.readVarint(), length <= UInt64(UInt32.max), reader.position <= 5 else {
                return nil
            }
            return (Int(length), reader.position)
        }
    }
}
