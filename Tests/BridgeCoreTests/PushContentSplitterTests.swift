import BridgeCore
import Testing

@Suite("PushContentSplitter: records larger than a batch")
struct PushContentSplitterTests {
    func stream(_ name: String, lines: Int, size: Int = 100) -> LokiStream {
        LokiStream(
            labels: "{app=\"\(name)\"}",
            entries: (0..<lines).map { LokiEntry(timestampNanos: Int64($0 + 1), line: String(repeating: "x", count: size)) })
    }

    func wire(_ streams: [LokiStream]) -> [UInt8] {
        var bytes: [UInt8] = []
        PushBodyBuilder.appendStreams(streams, to: &bytes)
        return bytes
    }

    @Test func protobufSplitsAtStreamBoundariesAndConcatenatesBack() throws {
        let streams = [stream("a", lines: 4), stream("b", lines: 4), stream("c", lines: 4)]
        let bytes = wire(streams)
        let one = wire([streams[0]]).count
        let pieces = PushContentSplitter.split(.protobuf(bytes), maxBytes: one + one / 2)
        let chunks = pieces.compactMap { piece -> [UInt8]? in
            if case .protobuf(let chunk) = piece { return chunk }
            return nil
        }
        #expect(chunks.count == 3)
        #expect(chunks.allSatisfy { $0.count <= one + one / 2 })
        #expect(chunks.flatMap { $0 } == bytes, "pieces are runs of the original streams, in order")
        for chunk in chunks { #expect(try LokiProtobufScanner.scan(chunk).0.streams == 1) }
    }

    @Test func contentThatFitsIsNotSplit() {
        let bytes = wire([stream("a", lines: 2), stream("b", lines: 2)])
        let pieces = PushContentSplitter.split(.protobuf(bytes), maxBytes: bytes.count)
        #expect(pieces.count == 1)
    }

    @Test func aSingleStreamLargerThanTheLimitStaysWhole() {
        let bytes = wire([stream("big", lines: 50)])
        let pieces = PushContentSplitter.split(.protobuf(bytes), maxBytes: 100)
        #expect(pieces.count == 1)
    }

    @Test func decodedStreamsSplitByApproximateSize() {
        let streams = [stream("a", lines: 10), stream("b", lines: 10), stream("c", lines: 10)]
        let limit = PushContentSplitter.approximateSize(streams[0]) + 10
        let pieces = PushContentSplitter.split(.streams(streams), maxBytes: limit)
        let labels = pieces.map { piece -> [String] in
            if case .streams(let part) = piece { return part.map(\.labels) }
            return []
        }
        #expect(labels == [["{app=\"a\"}"], ["{app=\"b\"}"], ["{app=\"c\"}"]])
    }
}
