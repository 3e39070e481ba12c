/// A topic and partition: the unit of assignment, ordering and commit in Kafka.
package struct TopicPartition: Hashable, Sendable, CustomStringConvertible {
    /// The topic name.
    package var topic: String
    /// The partition number within the topic.
    package var partition: Int32

    /// Creates a topic-partition pair.
    package init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    package var description: String { "\(topic)/\(partition)" }
}

/// One header of a Kafka record. Kafka allows repeated keys, so headers are a list, not a map.
package struct RecordHeader: Sendable, Equatable {
    /// Header key as produced (matching is case-insensitive, like HTTP header names).
    package var key: String
    /// Header value bytes; `nil` for a null header value.
    package var value: [UInt8]?

    /// Creates a header.
    package init(key: String, value: [UInt8]?) {
        self.key = key
        self.value = value
    }
}

/// A record as fetched from Kafka, copied out of librdkafka's message so it can cross threads.
package struct KafkaRecord: Sendable {
    /// Where the record lives.
    package var topicPartition: TopicPartition
    /// The record's offset within its partition.
    package var offset: Int64
    /// The record key, if any.
    package var key: [UInt8]?
    /// The record value (payload), `nil` for a tombstone.
    package var value: [UInt8]?
    /// The record headers in produce order.
    package var headers: [RecordHeader]

    /// Creates a record.
    package init(
        topicPartition: TopicPartition, offset: Int64, key: [UInt8]? = nil, value: [UInt8]?,
        headers: [RecordHeader] = []
    ) {
        self.topicPartition = topicPartition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
    }

    /// The value of the last header whose key equals `name`, ignoring ASCII case, as UTF-8 text.
    ///
    /// The last one wins, like Go's `http.Header.Set` overwriting earlier values.
    package func header(_ name: String) -> String? {
        headerBytes(name).map { String(decoding: $0, as: UTF8.self) }
    }

    /// ``header(_:)`` as the value's bytes, without making a String.
    package func headerBytes(_ name: String) -> [UInt8]? {
        for header in headers.reversed() where Self.equalIgnoringASCIICase(header.key, name) {
            return header.value
        }
        return nil
    }

    /// Whether `a` and `b` are equal when ASCII letters are compared without case (HTTP header
    /// names are ASCII). Runs for a few headers of every record, so it allocates nothing.
    static func equalIgnoringASCIICase(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        for (x, y) in zip(a.utf8, b.utf8) where x != y {
            // Letters differ only in the 0x20 bit; a match must be a letter on both sides.
            guard x | 0x20 == y | 0x20, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(x | 0x20) else { return false }
        }
        return true
    }

    /// Size used for the in-flight memory budget: value, key and header bytes.
    package var footprintBytes: Int {
        (value?.count ?? 0) + (key?.count ?? 0)
            + headers.reduce(0) { $0 + $1.key.utf8.count + ($1.value?.count ?? 0) }
    }
}
