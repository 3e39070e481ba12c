/// Builds the snappy-compressed protobuf `PushRequest` body of a batch.
///
/// Received snappy blocks are forwarded as they are; runs of other segments are joined
/// (protobuf byte for byte, decoded streams encoded here in pure Swift) and compressed once per
/// run, and the blocks are joined into one (see ``SnappyBlock``). Runs are joined here, on a
/// push thread, not in the batcher on the poll thread. Compressing each segment on its own
/// would skip that copy but costs more (`kafka-loki-bench micro`, JSON push body: 920 instead
/// of 508 ns per line; libsnappy sets up its working memory, about 100 KiB, per call).
///
/// (protobuf-c's generated code, in `CLokiProto`, stores strings as NUL-terminated `char *`,
/// which would cut a line at an embedded NUL; this encoder keeps every byte.)
package enum PushBodyBuilder {
    /// The body for `batch`: one snappy block whose content is its segments' stream fields.
    ///
    /// - Parameter compress: snappy block compression (libsnappy in the product; the core
    ///   stays free of C).
    package static func snappyBody(for batch: PushBatch, compress: ([UInt8]) -> [UInt8]) -> [UInt8] {
        var blocks: [SnappyBlock] = []
        var run: [UInt8] = []
        func compressRun() {
            // An empty run would add a block without elements: nothing to the body.
            guard !run.isEmpty else { return }
            guard let block = SnappyBlock(verified: compress(run), uncompressedLength: run.count) else {
                preconditionFailure("the snappy compressor declared a wrong length")
            }
            blocks.append(block)
            run.removeAll(keepingCapacity: true)
        }
        for segment in batch.segments {
            switch segment {
            case .snappy(let block):
                compressRun()
                blocks.append(block)
            case .protobuf(let bytes):
                if run.isEmpty { run.reserveCapacity(batch.encodedBytes) }
                run.append(contentsOf: bytes)
            case .streams(let streams):
                appendStreams(streams, to: &run)
            }
        }
        compressRun()
        return blocks.isEmpty ? compress([]) : SnappyBlock.concatenate(blocks)
    }

    /// Appends `streams` as `PushRequest.streams` fields (field 1).
    package static func appendStreams(_ streams: [LokiStream], to out: inout [UInt8]) {
        var streamBytes: [UInt8] = []
        var entryBytes: [UInt8] = []
        var scratch: [UInt8] = []
        for stream in streams {
            streamBytes.removeAll(keepingCapacity: true)
            ProtoWireWriter.appendLengthDelimited(field: 1, stream.labels.utf8, to: &streamBytes)
            for entry in stream.entries {
                entryBytes.removeAll(keepingCapacity: true)
                scratch.removeAll(keepingCapacity: true)
                appendTimestamp(entry.timestampNanos, to: &scratch)
                ProtoWireWriter.appendLengthDelimited(field: 1, scratch, to: &entryBytes)
                ProtoWireWriter.appendLengthDelimited(field: 2, entry.line.utf8, to: &entryBytes)
                for pair in entry.structuredMetadata {
                    scratch.removeAll(keepingCapacity: true)
                    ProtoWireWriter.appendLengthDelimited(field: 1, pair.name.utf8, to: &scratch)
                    ProtoWireWriter.appendLengthDelimited(field: 2, pair.value.utf8, to: &scratch)
                    ProtoWireWriter.appendLengthDelimited(field: 3, scratch, to: &entryBytes)
                }
                ProtoWireWriter.appendLengthDelimited(field: 2, entryBytes, to: &streamBytes)
            }
            ProtoWireWriter.appendLengthDelimited(field: 1, streamBytes, to: &out)
        }
    }

    /// `Timestamp { int64 seconds = 1; int32 nanos = 2 }` with a non-negative `nanos`, as
    /// google.protobuf.Timestamp requires (so pre-1970 times round down).
    package static func appendTimestamp(_ nanos: Int64, to out: inout [UInt8]) {
        let timestamp = ProtoTimestamp(nanos)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: ProtoTimestamp.maxEncodedSize) { buffer in
            let count = timestamp.write(into: buffer, at: 0)
            out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[..<count]))
        }
    }
}

/// A `google.protobuf.Timestamp` split from Unix nanoseconds: the seconds rounded down, so the
/// nanos field is never negative (the type requires it). Zero fields are left out (proto3).
package struct ProtoTimestamp {
    /// Whole seconds (negative before 1970).
    package var seconds: Int64
    /// Nanoseconds within the second, 0 ..< 1_000_000_000.
    package var fraction: Int64

    /// The most bytes a timestamp takes: two tags, a 10-byte and a 5-byte varint.
    package static let maxEncodedSize = 17

    /// Splits `nanos` since the Unix epoch.
    @inlinable
    package init(_ nanos: Int64) {
        seconds = nanos / 1_000_000_000
        fraction = nanos % 1_000_000_000
        if fraction < 0 {
            seconds -= 1
            fraction += 1_000_000_000
        }
    }

    /// The encoded message's length in bytes.
    @inlinable
    package var encodedSize: Int {
        (seconds != 0 ? 1 + ProtoWireWriter.varintSize(UInt64(bitPattern: seconds)) : 0)
            + (fraction != 0 ? 1 + ProtoWireWriter.varintSize(UInt64(fraction)) : 0)
    }

    /// Writes the message's fields into `buffer` from `index` and returns the index after them.
    @inlinable
    package func write(into buffer: UnsafeMutableBufferPointer<UInt8>, at index: Int) -> Int {
        var index = index
        if seconds != 0 {
            buffer.initializeElement(at: index, to: 0x08)
            index = ProtoWireWriter.writeVarint(UInt64(bitPattern: seconds), into: buffer, at: index + 1)
        }
        if fraction != 0 {
            buffer.initializeElement(at: index, to: 0x10)
            index = ProtoWireWriter.writeVarint(UInt64(fraction), into: buffer, at: index + 1)
        }
        return index
    }
}
