import Foundation

/// A deliberately small blocking HTTP/1.1 client over a plain TCP socket to 127.0.0.1, for tests that must
/// send exactly the bytes they mean (bad methods, huge headers, pipelining) and read exactly what comes back.
public final class RawHTTPClient {
    public struct Response: Sendable {
        public var status: Int
        public var reason: String
        /// Header lines in order, names as sent.
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]

        public func header(_ name: String) -> String? {
            headers.last { $0.name.lowercased() == name.lowercased() }?.value
        }
        public func headers(_ name: String) -> [String] {
            headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
        }
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    public struct ClientError: Error, CustomStringConvertible {
        public var description: String
    }

    private let fd: Int32
    private var buffer: [UInt8] = []

    /// Connects with a receive timeout (seconds).
    public init(port: Int, timeout: Double = 30) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ClientError(description: "socket: \(errno)") }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            close(fd)
            throw ClientError(description: "connect to 127.0.0.1:\(port): errno \(errno)")
        }
    }

    deinit { close(fd) }

    public func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { throw ClientError(description: "send failed: errno \(errno)") }
            offset += n
        }
    }

    /// Reads one response (Content-Length or close-delimited; `forHead` for responses to HEAD).
    public func readResponse(forHead: Bool = false) throws -> Response {
        let headEnd = try readUntil([13, 10, 13, 10])
        let headText = String(decoding: buffer[..<headEnd], as: UTF8.self)
        buffer.removeFirst(headEnd + 4)
        var response: Response
        do {
            response = try HTTPResponseReader.head(headText)
        } catch {
            throw ClientError(description: "bad response head: \(headText.debugDescription)")
        }
        if forHead { return response }
        if let length = response.header("content-length").flatMap(Int.init) {
            try fill(length)
            response.body = Array(buffer[..<length])
            buffer.removeFirst(length)
        } else {
            while try readMore() {}
            response.body = buffer
            buffer = []
        }
        return response
    }

    /// Sends a request and reads its response.
    public func request(
        _ method: String = "GET", _ path: String, headers: [(String, String)] = [], body: [UInt8] = [],
        host: String = "localhost"
    ) throws -> Response {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" || method == "PUT" { text += "Content-Length: \(body.count)\r\n" }
        text += "\r\n"
        try send(Array(text.utf8) + body)
        return try readResponse(forHead: method == "HEAD")
    }

    /// Whether something can be read (data or the server's close) within `seconds`, without reading it.
    public func waitForData(seconds: Double) -> Bool {
        if !buffer.isEmpty { return true }
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, Int32(seconds * 1000)) > 0
    }

    /// Whether the server closed the connection (reads until EOF or timeout).
    public func isClosedByPeer() -> Bool {
        (try? readMore()) == false
    }

    /// Whether the server closed or reset the connection (reads until EOF, a reset or the timeout).
    public func isClosedOrResetByPeer() -> Bool {
        do {
            while try readMore() {}
            return true
        } catch {
            return errno == ECONNRESET
        }
    }

    private func readUntil(_ marker: [UInt8]) throws -> Int {
        while true {
            if let index = find(marker) { return index }
            guard try readMore() else { throw ClientError(description: "connection closed before a full response") }
        }
    }

    private func find(_ marker: [UInt8]) -> Int? {
        HTTPResponseReader.find(marker, in: buffer)
    }

    private func fill(_ count: Int) throws {
        while buffer.count < count {
            guard try readMore() else { throw ClientError(description: "connection closed mid-body") }
        }
    }

    private func readMore() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 { throw ClientError(description: "receive failed or timed out: errno \(errno)") }
        if n == 0 { return false }
        buffer.append(contentsOf: chunk[..<n])
        return true
    }
}

@available(*, unavailable)
extension RawHTTPClient: Sendable {}
