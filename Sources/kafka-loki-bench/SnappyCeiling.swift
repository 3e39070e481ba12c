import BridgeCodecs
import BridgeCore

/// Ceiling (b): the least work any bridge must do per record, on one core: decompress the
/// record (snappy for protobuf records, gzip for gzip JSON; plain JSON arrives uncompressed)
/// and snappy-compress its content for the push. Records are generated first; only the codec
/// loop is timed.
///
/// With `snappyBatches` the records came in snappy-compressed Kafka batches, which librdkafka
/// inflates before any bridge sees a record: each record is snappy-compressed up front and
/// inflated in the timed loop. (librdkafka inflates whole batches of records, this one record
/// at a time; per byte the work is the same.)
enum SnappyCeiling {
    struct Result {
        var lines = 0
        var uncompressedBytes = 0
        var seconds = 0.0
    }

    static func run(_ records: [BenchRecord], format: BenchFormat, snappyBatches: Bool = false) throws -> Result {
        var result = Result()
        var sink = 0
        let values = snappyBatches ? records.map { Snappy.compress($0.value) } : records.map(\.value)
        let limit = 64 << 20  // far above any record's content: a bound, not a filter
        let started = ContinuousClock.now
        for (record, stored) in zip(records, values) {
            let value = snappyBatches ? try Snappy.decompress(stored, limit: limit) : stored
            let raw: [UInt8]
            switch format {
            case .protobuf: raw = try Snappy.decompress(value, limit: limit)
            case .json: raw = value
            case .jsonGzip: raw = try Gzip.decompress(value, limit: limit)
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
