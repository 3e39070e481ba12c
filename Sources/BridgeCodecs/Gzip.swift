import BridgeCore
import CLibdeflate
import CZlib

/// Gzip (RFC 1952) via libdeflate and zlib, for JSON push bodies sent with `Content-Encoding: gzip`.
package enum Gzip {
    /// Decompresses a gzip stream (concatenated members are read one after another).
    ///
    /// - Throws: ``RecordDecodeError`` `.gzip` for invalid input, `.tooLarge` past `limit`.
    package static func decompress(_ input: [UInt8], limit: Int) throws(RecordDecodeError) -> [UInt8] {
        if let output = oneMember(input, limit: limit) { return output }
        return try members(input, limit: limit)
    }

    /// The usual body, one member, decompressed by libdeflate in one call straight into an
    /// output of the size its trailer states; nil for anything else (more members, a size that
    /// does not match, invalid data), which ``members(_:limit:)`` then reads with zlib and
    /// words the errors for.
    ///
    /// libdeflate (Debian's `libdeflate0`) inflates whole buffers about twice as fast as zlib's
    /// streaming `inflate`, which was most of the bridge's cost for gzip JSON records: see
    /// docs/performance.md, "Gzip bodies through libdeflate". It checks the CRC-32 and the
    /// stated size itself.
    private static func oneMember(_ input: [UInt8], limit: Int) -> [UInt8]? {
        // ISIZE, the last four bytes: the member's uncompressed length modulo 2^32. Deflate
        // expands at most 1032:1, so a larger claim is false and not worth an allocation.
        guard input.count >= 18 else { return nil }
        let size = input[(input.count - 4)...].reversed().reduce(0) { $0 << 8 | Int($1) }
        guard size > 0, size <= limit, size <= input.count * 1032,
            let decompressor = libdeflate_alloc_decompressor()
        else { return nil }
        defer { libdeflate_free_decompressor(decompressor) }
        var complete = false
        let output = input.withUnsafeBytes { source in
            [UInt8](unsafeUninitializedCapacity: size) { target, count in
                var consumed = 0
                var produced = 0
                let result = libdeflate_gzip_decompress_ex(
                    decompressor, source.baseAddress, source.count, target.baseAddress, size, &consumed, &produced)
                // All of the input is this one member, and it filled exactly what it claims.
                complete = result == LIBDEFLATE_SUCCESS && consumed == source.count && produced == size
                count = complete ? size : 0
            }
        }
        return complete ? output : nil
    }

    /// Any gzip body: members one after another, inflated in pieces, the limit checked as the
    /// output grows.
    private static func members(_ input: [UInt8], limit: Int) throws(RecordDecodeError) -> [UInt8] {
        var stream = z_stream()
        // 16 + MAX_WBITS: expect a gzip header; 32 would also accept zlib.
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw RecordDecodeError(.gzip, "zlib inflateInit failed")
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        output.reserveCapacity(min(limit, max(input.count * 4, 4096)))
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        return try input.withUnsafeBufferPointer { (source) throws(RecordDecodeError) -> [UInt8] in
            stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
            stream.avail_in = UInt32(source.count)
            while true {
                let status = chunk.withUnsafeMutableBufferPointer { target in
                    stream.next_out = target.baseAddress
                    stream.avail_out = UInt32(target.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk.count - Int(stream.avail_out)
                guard output.count + produced <= limit else {
                    throw RecordDecodeError(.tooLarge, "gzip body expands past \(limit) bytes")
                }
                output.append(contentsOf: chunk[0..<produced])
                switch status {
                case Z_STREAM_END:
                    if stream.avail_in == 0 { return output }
                    guard inflateReset(&stream) == Z_OK else { throw RecordDecodeError(.gzip, "zlib reset failed") }
                case Z_OK:
                    continue
                case Z_BUF_ERROR where stream.avail_in == 0:
                    throw RecordDecodeError(.gzip, "truncated gzip stream")
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "status \(status)"
                    throw RecordDecodeError(.gzip, "invalid gzip data: \(message)")
                }
            }
        }
    }

    /// Compresses `input` into a gzip stream (used by tests and tools).
    package static func compress(_ input: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        let initStatus = deflateInit2_(
            &stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
            Int32(MemoryLayout<z_stream>.size))
        precondition(initStatus == Z_OK, "zlib deflateInit failed")
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))) + 32)
        input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
                stream.avail_in = UInt32(source.count)
                stream.next_out = target.baseAddress
                stream.avail_out = UInt32(target.count)
                let status = deflate(&stream, Z_FINISH)
                precondition(status == Z_STREAM_END, "deflate with a bound-sized buffer must finish")
            }
        }
        output.removeLast(Int(stream.avail_out))
        return output
    }
}

/// The production ``PayloadDecompressor``: libsnappy and zlib.
package struct NativeDecompressor: PayloadDecompressor {
    /// Creates the decompressor.
    package init() {}

    package func snappyDecompress(_ bytes: [UInt8], limit: Int) throws(RecordDecodeError) -> [UInt8] {
        try Snappy.decompress(bytes, limit: limit)
    }

    package func gunzip(_ bytes: [UInt8], limit: Int) throws(RecordDecodeError) -> [UInt8] {
        try Gzip.decompress(bytes, limit: limit)
    }
}
