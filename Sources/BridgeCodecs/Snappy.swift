import BridgeCore
import CSnappy

/// Snappy block-format compression (libsnappy's C API), the body encoding of Loki protobuf pushes.
package enum Snappy {
    /// Compresses `input` into a snappy block.
    package static func compress(_ input: [UInt8]) -> [UInt8] {
        let capacity = snappy_max_compressed_length(input.count)
        return [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
            var length = capacity
            let status = input.withUnsafeBufferPointer { source in
                source.withMemoryRebound(to: CChar.self) { source in
                    buffer.withMemoryRebound(to: CChar.self) { target in
                        snappy_compress(source.baseAddress, source.count, target.baseAddress, &length)
                    }
                }
            }
            // snappy_compress only fails for a too-small output buffer, which max_compressed_length rules out.
            precondition(status == SNAPPY_OK, "snappy_compress failed with a max-sized buffer")
            count = length
        }
    }

    /// Decompresses a snappy block.
    ///
    /// - Throws: ``RecordDecodeError`` `.snappy` for invalid input, `.tooLarge` when the
    ///   declared uncompressed size exceeds `limit`.
    package static func decompress(_ input: [UInt8], limit: Int) throws(RecordDecodeError) -> [UInt8] {
        try input.withUnsafeBufferPointer { (source) throws(RecordDecodeError) -> [UInt8] in
            try source.withMemoryRebound(to: CChar.self) { (source) throws(RecordDecodeError) -> [UInt8] in
                var length = 0
                guard snappy_uncompressed_length(source.baseAddress, source.count, &length) == SNAPPY_OK else {
                    throw RecordDecodeError(.snappy, "not a snappy block (bad length header)")
                }
                guard length <= limit else {
                    throw RecordDecodeError(.tooLarge, "snappy block expands to \(length) bytes, limit \(limit)")
                }
                var status = SNAPPY_OK
                let output = [UInt8](unsafeUninitializedCapacity: max(length, 1)) { buffer, count in
                    var produced = length
                    status = buffer.withMemoryRebound(to: CChar.self) { target in
                        snappy_uncompress(source.baseAddress, source.count, target.baseAddress, &produced)
                    }
                    count = status == SNAPPY_OK ? produced : 0
                }
                guard status == SNAPPY_OK else { throw RecordDecodeError(.snappy, "corrupt snappy block") }
                return output
            }
        }
    }
}
