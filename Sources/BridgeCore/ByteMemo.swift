/// A bounded memo from byte strings to what they were found to be, for work that repeats on
/// the same bytes: a busy topic carries the same few hundred stream label sets in every record,
/// and parsing, sorting and checking them was about a sixth of the poll thread's JSON time
/// (docs/performance.md, "Label sets are remembered across records").
///
/// Entries are found by a 64-bit hash (``ByteHash``) and always confirmed by comparing the
/// stored bytes, so a collision costs a miss, never a wrong answer. When `capacity` entries
/// are stored the memo starts over empty, and keys longer than `maxKeyBytes` are not stored:
/// label sets are a few hundred bytes, while a label object may in principle be as large as a
/// record, and this memory is outside the in-flight budget. A working set larger than the
/// memo only loses the speed-up.
package struct ByteMemo<Value: Sendable>: Sendable {
    package struct Entry: Sendable {
        /// The bytes the value was computed from.
        package var key: [UInt8]
        package var value: Value
    }

    private var entries: [UInt64: Entry] = [:]
    /// Most entries kept before the memo starts over.
    package let capacity: Int
    /// Longest key stored; longer ones are worked out every time.
    package let maxKeyBytes: Int

    package init(capacity: Int = 4096, maxKeyBytes: Int = 1024) {
        precondition(capacity > 0, "a memo needs room for one entry")
        self.capacity = capacity
        self.maxKeyBytes = maxKeyBytes
    }

    /// Entries stored now.
    package var count: Int { entries.count }

    /// The entry stored under `hash`, whatever its bytes: the caller confirms them.
    package func entry(hash: UInt64) -> Entry? { entries[hash] }

    /// Stores `value` for `key` under `hash` (replacing what was there), unless `key` is longer
    /// than ``maxKeyBytes``.
    package mutating func store(_ value: Value, key: [UInt8], hash: UInt64) {
        guard key.count <= maxKeyBytes else { return }
        if entries.count >= capacity, entries[hash] == nil { removeAll() }
        entries[hash] = Entry(key: key, value: value)
    }

    /// Forgets every entry (keeping the storage for the next ones).
    package mutating func removeAll() { entries.removeAll(keepingCapacity: true) }

    /// The value stored for exactly the bytes `key`.
    package func value(for key: UnsafeBufferPointer<UInt8>) -> Value? {
        guard let entry = entries[ByteHash.hash(key)], Self.equal(entry.key, key) else { return nil }
        return entry.value
    }

    /// Stores `value` for the bytes `key` (unless longer than ``maxKeyBytes``).
    package mutating func store(_ value: Value, for key: UnsafeBufferPointer<UInt8>) {
        guard key.count <= maxKeyBytes else { return }
        store(value, key: Array(key), hash: ByteHash.hash(key))
    }

    /// Whether `stored` equals `bytes`.
    package static func equal(_ stored: [UInt8], _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        stored.count == bytes.count && hasPrefix(bytes, stored)
    }

    /// Whether `bytes` starts with `prefix`, compared eight bytes at a time.
    package static func hasPrefix(_ bytes: UnsafeBufferPointer<UInt8>, _ prefix: [UInt8]) -> Bool {
        guard prefix.count <= bytes.count else { return false }
        return prefix.withUnsafeBytes { prefix in
            let bytes = UnsafeRawBufferPointer(bytes)
            var index = 0
            while index + 8 <= prefix.count {
                guard prefix.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                    == bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                else { return false }
                index += 8
            }
            while index < prefix.count {
                guard prefix[index] == bytes[index] else { return false }
                index += 1
            }
            return true
        }
    }
}

/// The label sets one consumer has already read and checked, kept across records (it belongs
/// to one poll thread: pass it `inout`, never share it).
///
/// At most 4,096 entries of at most 1 KiB each (with the label text of a JSON object, about
/// as long again): 12 MiB at the very worst, about a megabyte for a topic of a few thousand
/// streams of ordinary label sets.
///
/// - `jsonLabelTexts`: the raw JSON of a `"stream": {…}` object → its Loki label text
///   (``LokiJSONPushTranscoder``).
/// - `validLabelTexts`: label texts that passed ``LabelSetParser/validate(_:limits:scratch:)``
///   under ``validatedUnder`` (``EntryValidator``); only valid ones are kept, so a refusal is
///   always worked out (and worded) afresh.
package struct LabelMemo: Sendable {
    package var jsonLabelTexts: ByteMemo<[UInt8]>
    package var validLabelTexts: ByteMemo<Bool>
    /// The limits ``validLabelTexts`` was filled under; other limits start it over.
    package var validatedUnder: EntryLimits?

    package init(capacity: Int = 4096, maxKeyBytes: Int = 1024) {
        jsonLabelTexts = ByteMemo(capacity: capacity, maxKeyBytes: maxKeyBytes)
        validLabelTexts = ByteMemo(capacity: capacity, maxKeyBytes: maxKeyBytes)
    }
}
