import BridgeCodecs
import BridgeCore

/// Ceiling (b): the least work any bridge must do per record, on one core: decompress the
/// record (snappy for protobuf records, gzip for gzip JSON; plain JSON arrives uncompressed)
/// and snappy-compress its content for the push. Records are generated first; only the codec
/// loop is timed.
enum SnappyCeiling {
    struct Result {
        var lines = 0
        var uncompressedBytes = 0
        var seconds = 0.0
    }

    static func run(_ records: [BenchRecord], format: BenchFormat) throws -> Result {
        var result = Result()
        var sink = 0
        let started = ContinuousClock.now
        for record in records {
            let raw: [UInt8]
            switch format {
            case .protobuf: raw = try Snappy.decompress(record.value, limit: 64 << 20)
            case .json: raw = record.value
            case .jsonGzip: raw = try Gzip.decompress(record.value, limit: 64 << 20)
            }
            sink &+= Snappy.compress(raw).count
            result.uncompressedBytes += raw.count
            result.lines += record.lines
        }
        result.seconds = (ContinuousClock.now - started).seconds
        precondition(sink > 0)
        return result
    }
}
