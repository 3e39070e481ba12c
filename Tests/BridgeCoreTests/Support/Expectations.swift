import BridgeCore
import Testing

// `#expect`/`#require` cannot evaluate mutating calls; these take the already computed value.

/// Expects a completion to have applied.
func applied(_ value: Bool, _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(value, comment, sourceLocation: sourceLocation)
}

/// Expects a completion to have been refused.
func refused(_ value: Bool, _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(!value, comment, sourceLocation: sourceLocation)
}

/// Unwraps `value` or fails the test.
func required<T>(_ value: T?, sourceLocation: SourceLocation = #_sourceLocation) throws -> T {
    try #require(value, sourceLocation: sourceLocation)
}

extension Fixture {
    /// A ticket for `offset` of ``partition`` (epoch 1), made the only way callers can: by registering.
    static func ticket(_ offset: Int64, partition: TopicPartition = Fixture.partition) -> RecordTicket {
        var tracker = OffsetTracker()
        tracker.assign([partition])
        return tracker.register(partition, offset: offset)!
    }
}

extension LokiProtobufScanner.Summary {
    /// The counts as a tuple, since the memberwise initializer is not visible outside the module.
    var counts: [Int] { [streams, entries, lineBytes] }
}
