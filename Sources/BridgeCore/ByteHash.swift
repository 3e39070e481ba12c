/// A fast, non-cryptographic 64-bit hash of a byte string, eight bytes per step.
///
/// Used where the bytes are compared afterwards anyway (``ByteMemo``) or only summed into a
/// fingerprint (the benchmark's line checksum); never as a security boundary.
package enum ByteHash {
    @inlinable
    package static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0x243F_6A88_85A3_08D3 ^ UInt64(bytes.count)
        var index = 0
        while index + 8 <= bytes.count {
            let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self))
            h = (h ^ word) &* 0x9E37_79B9_7F4A_7C15
            h ^= h >> 29
            index += 8
        }
        while index < bytes.count {
            h = (h ^ UInt64(bytes[index])) &* 0x100_0000_01B3
            index += 1
        }
        h ^= h >> 32
        return h &* 0xD6E8_FEB8_6659_FD93
    }

    @inlinable
    package static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 { hash(UnsafeRawBufferPointer(bytes)) }
}
