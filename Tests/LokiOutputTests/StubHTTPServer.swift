import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A minimal HTTP/1.1 server on 127.0.0.1 standing in for Loki: it serves one scripted
/// response per connection (`Connection: close`) on a background thread and records what it
/// received. With no responses it listens without ever accepting, so a client's request is
/// never answered.
///
/// - Important: `@unchecked Sendable`: `received` is only touched under `condition`; the
///   socket descriptors are immutable after `init`.
final class StubHTTPServer: @unchecked Sendable {
    struct Request: Sendable {
        var method: String
        var target: String
        /// Header names lower-cased; repeated headers joined with ", ".
        var headers: [String: String]
        var body: [UInt8]
    }

    struct Response: Sendable {
        var status: Int
        var reason: String
        var headers: [(String, String)] = []
        var body: String = ""
    }

    struct SocketError: Error, CustomStringConvertible {
        var call: String
        var errno: Int32
        var description: String { "\(call) failed: errno \(errno)" }
    }

    let port: Int
    private let listener: Int32
    private let condition = NSCondition()
    private var received: [Request] = []

    init(answering responses: [Response]) throws {
        (listener, port) = try Self.bindLoopback(listen: true)
        guard !responses.isEmpty else { return }
        let thread = Thread { [self] in serve(responses) }
        thread.start()
    }

    deinit {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    /// Waits (bounded) until `count` requests arrived and returns them.
    func requests(count: Int, timeout: TimeInterval = 2) -> [Request] {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        while received.count < count, condition.wait(until: deadline) {}
        return received
    }

    /// A loopback port with nothing listening on it: connecting is refused.
    static func closedPort() throws -> Int {
        let (socket, port) = try bindLoopback(listen: false)
        close(socket)
        return port
    }

    private static func bindLoopback(listen shouldListen: Bool) throws -> (Int32, Int) {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw SocketError(call: "socket", errno: errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound, !shouldListen || listen(fd, 16) == 0 else {
            let error = SocketError(call: "bind/listen", errno: errno)
            close(fd)
            throw error
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    private func serve(_ responses: [Response]) {
        for response in responses {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return }
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            #if canImport(Darwin)
            var one: Int32 = 1
            setsockopt(connection, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
            #endif
            if let request = readRequest(connection) {
                condition.lock()
                received.append(request)
                condition.broadcast()
                condition.unlock()
                writeAll(connection, Self.encode(response))
            }
            close(connection)
        }
    }

    private func readRequest(_ connection: Int32) -> Request? {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        var headerEnd: Int?
        var contentLength = 0
        while true {
            if headerEnd == nil, let range = buffer.firstRange(of: separator) {
                headerEnd = range.upperBound
                let head = String(decoding: buffer[..<range.lowerBound], as: UTF8.self)
                contentLength = Self.parseHeaders(head).1["content-length"].flatMap { Int($0) } ?? 0
            }
            if let headerEnd, buffer.count >= headerEnd + contentLength { break }
            let count = chunk.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return nil }
            buffer += chunk[..<count]
        }
        guard let headerEnd else { return nil }
        let (requestLine, headers) = Self.parseHeaders(String(decoding: buffer[..<(headerEnd - 4)], as: UTF8.self))
        let parts = requestLine.split(separator: " ")
        guard parts.count >= 2 else { return nil }
        return Request(
            method: String(parts[0]),
            target: String(parts[1]),
            headers: headers,
            body: Array(buffer[headerEnd..<(headerEnd + contentLength)])
        )
    }

    private static func parseHeaders(_ head: String) -> (String, [String: String]) {
        var lines = head.components(separatedBy: "\r\n")
        let requestLine = lines.isEmpty ? "" : lines.removeFirst()
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            headers[name] = headers[name].map { "\($0), \(value)" } ?? value
        }
        return (requestLine, headers)
    }

    private static func encode(_ response: Response) -> [UInt8] {
        let body = Array(response.body.utf8)
        var head = "HTTP/1.1 \(response.status) \(response.reason)\r\n"
        head += "Content-Length: \(body.count)\r\nConnection: close\r\n"
        for (name, value) in response.headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        return Array(head.utf8) + body
    }

    private func writeAll(_ connection: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            #if canImport(Glibc)
            let flags = Int32(MSG_NOSIGNAL)
            #else
            let flags: Int32 = 0
            #endif
            let written = bytes[offset...].withUnsafeBytes { send(connection, $0.baseAddress, $0.count, flags) }
            guard written > 0 else { return }
            offset += written
        }
    }
}
