import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A plain TCP connection to a listener on loopback, for what curl cannot send: repeated
/// headers, half a request, nothing at all. Blocking calls; use it from a thread of its own
/// (``onThread(_:)``) so the cooperative pool stays free for the server under test.
final class RawConnection: @unchecked Sendable {
    private var descriptor: Int32
    private var buffered: [UInt8] = []

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw HarnessFailure("socket() failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            Glibc.close(descriptor)
            throw HarnessFailure("connect to 127.0.0.1:\(port) failed: errno \(errno)")
        }
    }

    deinit { close() }

    /// Closes the connection from this side.
    func close() {
        guard descriptor >= 0 else { return }
        Glibc.close(descriptor)
        descriptor = -1
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard sent > 0 else { throw HarnessFailure("send failed: errno \(errno)") }
            offset += sent
        }
    }

    /// What a read saw.
    enum ReadResult: Equatable {
        case bytes([UInt8])
        /// The server closed the connection (EOF or reset).
        case closed
        case timedOut
    }

    /// Reads what is there, waiting at most `seconds`.
    func read(waiting seconds: Double) -> ReadResult {
        if !buffered.isEmpty {
            defer { buffered = [] }
            return .bytes(buffered)
        }
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let ready = poll(&poller, 1, Int32(seconds * 1000))
        guard ready > 0 else { return .timedOut }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return .closed }
        return .bytes(Array(chunk[..<count]))
    }

    /// Waits until the server closes the connection, discarding what it sends; `false` if it
    /// is still open after `seconds`.
    func waitForClose(seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            switch read(waiting: max(0.05, deadline.timeIntervalSinceNow)) {
            case .closed: return true
            case .bytes: continue
            case .timedOut: return false
            }
        }
        return false
    }

    /// Reads one HTTP response (head and a `Content-Length` body) and returns its status, or
    /// `nil` if the connection closed or nothing complete came within `seconds`.
    func readResponse(seconds: Double = 30) -> (status: Int, body: String)? {
        let deadline = Date().addingTimeInterval(seconds)
        var data: [UInt8] = []
        let separator = Array("\r\n\r\n".utf8)
        while Date() < deadline {
            if let end = data.firstRange(of: separator) {
                let head = String(decoding: data[..<end.lowerBound], as: UTF8.self)
                let lines = head.components(separatedBy: "\r\n")
                let status = lines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
                let length =
                    lines.dropFirst().compactMap { line -> Int? in
                        let parts = line.split(separator: ":", maxSplits: 1)
                        guard parts.count == 2, parts[0].lowercased() == "content-length" else { return nil }
                        return Int(parts[1].trimmingCharacters(in: .whitespaces))
                    }.first ?? 0
                let bodyStart = end.upperBound
                if data.count - bodyStart >= length {
                    let body = String(decoding: data[bodyStart..<(bodyStart + length)], as: UTF8.self)
                    buffered = Array(data[(bodyStart + length)...])
                    return (status, body)
                }
            }
            switch read(waiting: max(0.05, deadline.timeIntervalSinceNow)) {
            case .bytes(let bytes): data += bytes
            case .closed, .timedOut: return nil
            }
        }
        return nil
    }
}

/// Runs blocking work on a thread of its own.
func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}

/// A complete HTTP/1.1 POST with the given header lines (repeat a name to send it twice).
func rawPost(path: String, headers: [(String, String)], body: [UInt8], keepAlive: Bool = false) -> [UInt8] {
    var head = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(body.count)\r\n"
    if !keepAlive { head += "Connection: close\r\n" }
    for (name, value) in headers { head += "\(name): \(value)\r\n" }
    return Array((head + "\r\n").utf8) + body
}
