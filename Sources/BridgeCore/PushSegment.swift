/// One piece of a batch's push body, in arrival order.
package enum PushSegment: Sendable {
    /// Serialized `PushRequest` stream fields, uncompressed (one record's content).
    case protobuf([UInt8])
    /// Decoded streams the pusher encodes.
    case streams([LokiStream])
    /// A received snappy block of stream fields, forwarded still compressed.
    case snappy(SnappyBlock)

    /// The segment for decoded `content`.
    package init(_ content: PushContent) {
        switch content {
        case .protobuf(let bytes): self = .protobuf(bytes)
        case .streams(let streams): self = .streams(streams)
        }
    }
}
