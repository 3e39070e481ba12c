/// Splits a record's streams into pieces no larger than a batch, at stream boundaries.
///
/// A PushRequest is a sequence of `streams` fields, so any run of them is a valid request:
/// a record bigger than `batch.max_bytes` becomes several pieces, each batched (and pushed)
/// on its own; the record is done when all its pieces are. A single stream larger than the
/// limit stays whole (Loki accepts one stream per push whatever the batch size).
package enum PushContentSplitter {
    /// The pieces of `content`, in order; `[content]` when it fits.
    package static func split(_ content: PushContent, maxBytes: Int) -> [PushContent] {
        switch content {
        case .protobuf(let bytes):
            guard bytes.count > maxBytes else { return [content] }
            return splitProtobuf(bytes, maxBytes: maxBytes).map { .protobuf($0) }
        case .streams(let streams):
            guard streams.count > 1 else { return [content] }
            var pieces: [[LokiStream]] = [[]]
            var size = 0
            for stream in streams {
                let streamSize = approximateSize(stream)
                if size > 0, size + streamSize > maxBytes {
                    pieces.append([])
                    size = 0
                }
                pieces[pieces.count - 1].append(stream)
                size += streamSize
            }
            return pieces.map { .streams($0) }
        }
    }

    /// Approximate encoded size of a stream (labels, lines, timestamps, metadata).
    package static func approximateSize(_ stream: LokiStream) -> Int {
        stream.entries.reduce(stream.labels.utf8.count + 8) { total, entry in
            total + entry.line.utf8.count + 24 + entry.structuredMetadata.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 6 }
        }
    }

    /// Groups whole top-level fields (tag + length + payload) into chunks of at most `maxBytes`.
    private static func splitProtobuf(_ bytes: [UInt8], maxBytes: Int) -> [[UInt8]] {
        var chunks: [[UInt8]] = []
        var current: [UInt8] = []
        bytes.withUnsafeBufferPointer { buffer in
            var reader = ProtoWireReader(buffer)
            while !reader.isAtEnd {
                let start = reader.position
                // The bytes were scanned already; a malformed field cannot appear here.
                guard (try? reader.readTag()) != nil, (try? reader.skip(wireType: 2)) != nil else { break }
                let field = buffer[start..<reader.position]
                if !current.isEmpty, current.count + field.count > maxBytes {
                    chunks.append(current)
                    current = []
                }
                current.append(contentsOf: field)
            }
        }
        if !current.isEmpty { chunks.append(current) }
        return chunks
    }
}
