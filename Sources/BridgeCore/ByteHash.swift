/// A fast, non-cryptographic 64-bit hash of a byte string.
///
/// Used where the bytes are compared afterwards anyway (``ByteMemo``) or only summed into a
/// fingerprint (the benchmark's line checksum); never as a security boundary.
///
/// Strings of 32 bytes and more go through four independent lanes, a word each per step: one
/// multiply chain made the benchmark's counting sink spend 13 % of its time here, waiting on
/// the previous multiply for every eight bytes of a line.
package enum ByteHash {
    @inlinable
    package static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let count = bytes.count
        var h: UInt64 = 0x243F_6A88_85A3_08D3 ^ UInt64(count)
        var index = 0
        if count >= 32 {
            var lanes = (h, h ^ 0x1319_8A2E_0370_7344, h ^ 0xA409_3822_299F_31D0, h ^ 0x082E_FA98_EC4E_6C89)
            while index + 32 <= count {
                lanes.0 = mix(lanes.0, word(bytes, index))
                lanes.1 = mix(lanes.1, word(bytes, index + 8))
                lanes.2 = mix(lanes.2, word(bytes, index + 16))
                lanes.3 = mix(lanes.3, word(bytes, index + 24))
                index += 32
            }
            h = mix(mix(mix(lanes.0, lanes.1), lanes.2), lanes.3)
        }
        while index + 8 <= count {
            h = mix(h, word(bytes, index))
            index += 8
        }
        while index < count {
            h = (h ^ UInt64(bytes[index])) &* 0x100_0000_01B3
            index += 1
        }
        h ^= h >> 32
        return h &* 0xD6E8_FEB8_6659_FD93
    }

    @inlinable
    package static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 { hash(UnsafeRawBufferPointer(bytes)) }

    @inlinable @inline(__always)
    static func word(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inlinable @inline(__always)
    static func mix(_ h: UInt64, _ word: UInt64) -> UInt64 {
        let m = (h ^ word) &* 0x9E37_79B9_7F4A_7C15
        return m ^ (m >> 29)
    }
}
