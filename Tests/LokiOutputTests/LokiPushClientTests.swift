import BridgeCodecs
import BridgeCore
import Foundation
import LokiOutput
import Testing

@Suite("LokiPushClient against an in-process HTTP server")
struct LokiPushClientTests {
    func client(
        port: Int,
        timeout: Duration = .seconds(2),
        configure: (inout LokiClientConfiguration) -> Void = { _ in }
    )
        -> LokiPushClient
    {
        var configuration = LokiClientConfiguration(
            url: "http://127.0.0.1:\(port)/loki/api/v1/push",
            timeout: timeout,
            connectTimeout: .seconds(1),
            userAgent: "kafka-loki-bridge-test"
        )
        configure(&configuration)
        return LokiPushClient(configuration: configuration)
    }

    /// A compressed body larger than 1 KiB (where curl would otherwise send `Expect: 100-continue`),
    /// with NUL and high bytes.
    static let body: [UInt8] = {
        var seed: UInt32 = 7
        let raw = (0..<6000).map { index -> UInt8 in
            seed = seed &* 1_103_515_245 &+ 12345
            return index % 50 == 0 ? 0 : UInt8(truncatingIfNeeded: seed >> 16)
        }
        return Snappy.compress(raw)
    }()

    @Test func postsTheBodyWithProtobufContentTypeAndTenant() throws {
        let server = try StubHTTPServer(answering: [StubHTTPServer.Response(status: 204, reason: "No Content")])
        let response = try client(port: server.port).push(body: Self.body, tenant: "team-a")
        #expect(response == LokiResponse(status: 204, body: ""))
        let request = try #require(server.requests(count: 1).first)
        #expect(request.method == "POST")
        #expect(request.target == "/loki/api/v1/push")
        #expect(request.headers["content-type"] == "application/x-protobuf")
        #expect(request.headers["x-scope-orgid"] == "team-a")
        #expect(request.headers["user-agent"] == "kafka-loki-bridge-test")
        #expect(request.headers["content-length"] == "\(Self.body.count)")
        #expect(request.headers["expect"] == nil, "no 100-continue round trip")
        #expect(request.body == Self.body)
        #expect(try Snappy.decompress(request.body, limit: 1 << 20).count == 6000)
    }

    @Test func returnsLokisStatusMessageAndRetryAfter() throws {
        let server = try StubHTTPServer(answering: [
            StubHTTPServer.Response(
                status: 429,
                reason: "Too Many Requests",
                headers: [("Retry-After", "3")],
                body: "ingestion rate limit exceeded for user team-a\n"
            )
        ])
        let response = try client(port: server.port).push(body: [1, 2, 3], tenant: "team-a")
        #expect(response.status == 429)
        #expect(response.body == "ingestion rate limit exceeded for user team-a")
        #expect(response.retryAfter == .seconds(3))
        #expect(PushDisposition.classify(status: response.status) == .retry)
    }

    @Test func retryAfterAsHTTPDateIsIgnored() throws {
        let server = try StubHTTPServer(answering: [
            StubHTTPServer.Response(
                status: 503,
                reason: "Service Unavailable",
                headers: [("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")],
                body: "busy"
            )
        ])
        let response = try client(port: server.port).push(body: [1], tenant: nil)
        #expect(response == LokiResponse(status: 503, body: "busy", retryAfter: nil))
    }

    /// Values Swift's `Double(_:)` would accept ("inf", "1e300", hex) once crashed the process
    /// when converted to a Duration; only whole seconds are Retry-After delay-seconds.
    @Test(arguments: ["inf", "1e300", "0x10", "-1", "2.5", "99999999999999999999"])
    func retryAfterThatIsNotWholeSecondsIsIgnored(value: String) throws {
        let server = try StubHTTPServer(answering: [
            StubHTTPServer.Response(status: 503, reason: "Service Unavailable", headers: [("Retry-After", value)], body: "busy")
        ])
        let response = try client(port: server.port).push(body: [1], tenant: nil)
        #expect(response == LokiResponse(status: 503, body: "busy", retryAfter: nil))
    }

    @Test func noTenantHeaderWithoutTenantOnSuccessivePushes() throws {
        let server = try StubHTTPServer(answering: [
            StubHTTPServer.Response(status: 204, reason: "No Content"),
            StubHTTPServer.Response(status: 400, reason: "Bad Request", body: "entry out of order"),
        ])
        let client = client(port: server.port)
        #expect(try client.push(body: [0xAA], tenant: nil).status == 204)
        let second = try client.push(body: [0xBB, 0xCC], tenant: "b")
        #expect(second == LokiResponse(status: 400, body: "entry out of order"))
        let requests = server.requests(count: 2)
        try #require(requests.count == 2)
        #expect(requests[0].headers["x-scope-orgid"] == nil)
        #expect(requests[0].body == [0xAA])
        #expect(requests[1].headers["x-scope-orgid"] == "b")
        #expect(requests[1].body == [0xBB, 0xCC])
    }

    @Test func sendsCredentialsAndExtraHeaders() throws {
        let server = try StubHTTPServer(answering: [
            StubHTTPServer.Response(status: 204, reason: "No Content"),
            StubHTTPServer.Response(status: 204, reason: "No Content"),
        ])
        let bearer = client(port: server.port) {
            $0.bearerToken = "t0ken"
            $0.headers = ["X-Extra": "1"]
        }
        _ = try bearer.push(body: [1], tenant: nil)
        let basic = client(port: server.port) {
            $0.username = "user"
            $0.password = "pass"
        }
        _ = try basic.push(body: [1], tenant: nil)
        let requests = server.requests(count: 2)
        try #require(requests.count == 2)
        #expect(requests[0].headers["authorization"] == "Bearer t0ken")
        #expect(requests[0].headers["x-extra"] == "1")
        #expect(requests[1].headers["authorization"] == "Basic \(Data("user:pass".utf8).base64EncodedString())")
    }

    @Test func responseBodyIsBounded() throws {
        let server = try StubHTTPServer(answering: [
            StubHTTPServer.Response(status: 400, reason: "Bad Request", body: String(repeating: "e", count: 10_000))
        ])
        let response = try client(port: server.port).push(body: [1], tenant: nil)
        #expect(response.status == 400)
        #expect(response.body.utf8.count == 4096)
    }

    @Test func refusedConnectionIsAConnectError() throws {
        let port = try StubHTTPServer.closedPort()
        #expect {
            try client(port: port).push(body: [1], tenant: nil)
        } throws: { error in
            guard let error = error as? LokiPushError else { return false }
            return error.category == "connect" && error.curlCode == 7 && error.isRetriable && !error.message.isEmpty
        }
    }

    @Test func unansweredRequestTimesOut() throws {
        let server = try StubHTTPServer(answering: [])
        #expect {
            try client(port: server.port, timeout: .milliseconds(300)).push(body: [1], tenant: nil)
        } throws: { error in
            guard let error = error as? LokiPushError else { return false }
            return error.category == "timeout" && error.curlCode == 28
        }
    }

    @Test(arguments: [
        (6, "connect"), (7, "connect"), (28, "timeout"), (35, "transport"), (52, "transport"), (56, "transport"),
    ])
    func errorCategories(code: Int, category: String) {
        #expect(LokiPushError(curlCode: code, message: "x").category == category)
    }
}
