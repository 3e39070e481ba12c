/// Block decompression used by the decoders, implemented outside the pure core
/// (`BridgeCodecs` wraps libsnappy and zlib).
package protocol PayloadDecompressor: Sendable {
    /// Decompresses a snappy block (the format of Loki's protobuf push bodies, not the framed
    /// stream format).
    ///
    /// - Parameter limit: largest accepted uncompressed size in bytes.
    /// - Throws: ``RecordDecodeError`` with reason `.snappy`, or `.tooLarge` past `limit`.
    func snappyDecompress(_ bytes: [UInt8], limit: Int) throws(RecordDecodeError) -> [UInt8]

    /// Decompresses a gzip stream (JSON push bodies with `Content-Encoding: gzip`).
    ///
    /// - Parameter limit: largest accepted uncompressed size in bytes.
    /// - Throws: ``RecordDecodeError`` with reason `.gzip`, or `.tooLarge` past `limit`.
    func gunzip(_ bytes: [UInt8], limit: Int) throws(RecordDecodeError) -> [UInt8]
}
