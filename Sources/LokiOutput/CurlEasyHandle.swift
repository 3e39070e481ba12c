import CCurl

/// Owns one libcurl easy handle (and with it a keep-alive connection to Loki).
///
/// - Important: `@unchecked Sendable` because the handle moves between threads of the push
///   thread pool, but it is used by one thread at a time: ``CurlHandlePool`` hands it out
///   exclusively and takes it back after the request. libcurl allows that (an easy handle must
///   not be used concurrently, but may move between threads).
final class CurlEasyHandle: @unchecked Sendable {
    private let handle: OpaquePointer

    /// Creates a handle.
    init() {
        _ = CurlGlobal.initialized
        guard let handle = curl_easy_init() else { fatalError("curl_easy_init returned NULL (out of memory)") }
        self.handle = OpaquePointer(handle)
    }

    deinit {
        curl_easy_cleanup(UnsafeMutableRawPointer(handle))
    }

    /// Lends the raw handle for the duration of `body`.
    func withHandle<T, E: Error>(_ body: (UnsafeMutableRawPointer) throws(E) -> T) throws(E) -> T {
        try body(UnsafeMutableRawPointer(handle))
    }
}

/// libcurl's process-wide initialisation, done once before the first handle
/// (`curl_global_init` is not thread-safe; a `static let` runs exactly once).
enum CurlGlobal {
    static let initialized: Bool = {
        curl_global_init(Int(CURL_GLOBAL_ALL)) == CURLE_OK
    }()
}
