import NIOCore
import NIOHTTP1
import NIOPosix

/// A Loki stand-in that only counts and checks: `POST /loki/api/v1/push` (snappy protobuf,
/// answered 204, or 400 with the problem like Loki), `GET /stats` (JSON totals),
/// `POST /reset-latency`, `GET /ready`.
enum CountingSink {
    static func run(host: String, port: Int, stats: SinkStats) async throws {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(SinkHandler(stats: stats))
                }
            }
            .bind(host: host, port: port).get()
        print("sink listening on \(host):\(channel.localAddress?.port ?? port)")
        try await channel.closeFuture.get()
    }
}

private final class SinkHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let stats: SinkStats
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(stats: SinkStats) { self.stats = stats }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            head = request
            body.removeAll(keepingCapacity: true)
        case .body(let buffer):
            body.append(contentsOf: buffer.readableBytesView)
        case .end:
            guard let request = head else { return }
            respond(context, request)
        }
    }

    private func respond(_ context: ChannelHandlerContext, _ request: HTTPRequestHead) {
        let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
        var status = HTTPResponseStatus.ok
        var reply: [UInt8] = []
        switch (request.method, path) {
        case (.POST, "/loki/api/v1/push"):
            if let problem = stats.record(tenant: request.headers.first(name: "X-Scope-OrgID"), body: body) {
                (status, reply) = (.badRequest, Array("\(problem)\n".utf8))
            } else {
                status = .noContent
            }
        case (.GET, "/stats"): reply = stats.json()
        case (.POST, "/reset-latency"): stats.resetLatency()
        case (.GET, "/ready"): reply = Array("ready\n".utf8)
        default: (status, reply) = (.notFound, Array("not found\n".utf8))
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Length", value: "\(reply.count)")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        if !reply.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: reply)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        if !request.isKeepAlive { context.close(promise: nil) }
    }
}
