import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// The admin HTTP server: `/metrics` (Prometheus text), `/live` and `/ready`.
package struct AdminServer: Service {
    /// Answers for the three endpoints, read on every request.
    package struct Endpoints: Sendable {
        /// Body of `/metrics`.
        package var metrics: @Sendable () -> [UInt8]
        /// `/ready`: whether to answer 200, and a one-line explanation.
        package var readiness: @Sendable () -> (ready: Bool, detail: String)
    }

    let address: HTTPAddress
    let endpoints: Endpoints
    let logger: Logger
    /// Completed with the bound port once listening (tests bind port 0).
    let bound: (@Sendable (Int) -> Void)?

    /// Creates the server.
    package init(address: HTTPAddress, endpoints: Endpoints, logger: Logger, bound: (@Sendable (Int) -> Void)? = nil) {
        self.address = address
        self.endpoints = endpoints
        self.logger = logger
        self.bound = bound
    }

    package func run() async throws {
        let endpoints = self.endpoints
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(AdminHTTPHandler(endpoints: endpoints))
                }
            }
            .bind(host: address.host, port: address.port).get()
        let port = channel.localAddress?.port ?? address.port
        bound?(port)
        logger.info("admin server listening", metadata: ["http.address": "\(address.host):\(port)"])
        try await withGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
    }
}

/// Answers one request per exchange; keep-alive is honoured by NIO's HTTP server pipeline.
private final class AdminHTTPHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let endpoints: AdminServer.Endpoints

    init(endpoints: AdminServer.Endpoints) {
        self.endpoints = endpoints
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let request) = unwrapInboundIn(data) else { return }
        let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
        let (status, contentType, body): (HTTPResponseStatus, String, [UInt8])
        switch (request.method, path) {
        case (.GET, "/metrics"):
            (status, contentType, body) = (.ok, "text/plain; version=0.0.4; charset=utf-8", endpoints.metrics())
        case (.GET, "/live"):
            (status, contentType, body) = (.ok, "text/plain", Array("live\n".utf8))
        case (.GET, "/ready"):
            let (ready, detail) = endpoints.readiness()
            (status, contentType, body) = (ready ? .ok : .serviceUnavailable, "text/plain", Array("\(detail)\n".utf8))
        case (.GET, _):
            (status, contentType, body) = (.notFound, "text/plain", Array("not found: try /metrics, /live or /ready\n".utf8))
        default:
            (status, contentType, body) = (.methodNotAllowed, "text/plain", Array("only GET is served\n".utf8))
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: "\(body.count)")
        let head = HTTPResponseHead(version: request.version, status: status, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        let keepAlive = request.isKeepAlive
        let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { boundContext.value.close(promise: nil) }
        }
    }
}
