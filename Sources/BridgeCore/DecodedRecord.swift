/// Loki streams ready to be batched, in one of two shapes.
package enum PushContent: Sendable {
    /// Serialized `PushRequest` stream fields (protobuf wire format, uncompressed), forwarded
    /// without re-encoding: they concatenate with other such segments into one valid request.
    case protobuf([UInt8])
    /// Decoded streams (from JSON) that the pusher encodes to protobuf.
    case streams([LokiStream])
}

/// The result of decoding one Kafka record.
package struct DecodedRecord: Sendable {
    /// The Loki tenant (`X-Scope-OrgID`), `nil` for a single-tenant Loki.
    package var tenant: String?
    /// The record's streams.
    package var content: PushContent
    /// Number of streams in the record.
    package var streamCount: Int
    /// Number of entries in the record.
    package var entryCount: Int
    /// Sum of line lengths in bytes (uncompressed), for throughput metrics.
    package var lineBytes: Int
    /// Approximate uncompressed protobuf size, used to bound batch sizes.
    package var encodedBytes: Int
    /// The record's value when it is a snappy block of exactly ``content``'s bytes: the batcher
    /// then forwards it without re-compressing (see ``SnappyBlock``). Whoever changes
    /// `content` must clear it.
    package var compressed: SnappyBlock?
    /// Extremes over the entries of ``content`` as decoded, when the decoder measured them
    /// (``EntryValidator`` then skips the entry checks if they are all within limits). Whoever
    /// changes `content` in a way that could move them must clear it.
    package var entryBounds: EntryBounds?

    /// Bytes this record keeps in memory until Loki has it: the received block when it is
    /// forwarded compressed, else the uncompressed content (the memory budget counts these).
    package var heldBytes: Int { compressed?.bytes.count ?? encodedBytes }

    /// Creates a decoded record.
    package init(
        tenant: String?, content: PushContent, streamCount: Int, entryCount: Int, lineBytes: Int,
        encodedBytes: Int, compressed: SnappyBlock? = nil, entryBounds: EntryBounds? = nil
    ) {
        self.tenant = tenant
        self.content = content
        self.streamCount = streamCount
        self.entryCount = entryCount
        self.lineBytes = lineBytes
        self.encodedBytes = encodedBytes
        self.compressed = compressed
        self.entryBounds = entryBounds
    }
}
