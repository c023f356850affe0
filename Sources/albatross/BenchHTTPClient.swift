import Atomics
import Bench
import Foundation

/// One blocking HTTP/1.1 exchange with a server's admin listener (`bench --server`'s one-off requests, and the
/// event feed's connection): one write, reads until the response's Content-Length is in. On a thread of its own,
/// never the cooperative pool. A run's requests go through ``BenchSocketClient`` instead.
final class BenchHTTPConnection {
    private let fd: Int32
    private var buffer = [UInt8](repeating: 0, count: 65_536)

    init(host: String, port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CommandFailure("socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host == "localhost" ? "127.0.0.1" : host)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            let code = errno
            close(fd)
            throw CommandFailure("cannot connect to \(host):\(port): errno \(code)")
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    private var owned = true
    private var lastBody = 0..<0

    /// The body of the last response ``roundTrip(_:)`` read.
    var body: [UInt8] { Array(buffer[lastBody]) }

    deinit { if owned { close(fd) } }

    /// Hands the socket over to the caller, who closes it.
    func detach() -> Int32 {
        owned = false
        return fd
    }

    /// Sends `request` and reads one response; returns its status.
    func roundTrip(_ request: [UInt8]) throws -> Int {
        var sent = 0
        while sent < request.count {
            let written = request.withUnsafeBytes { write(fd, $0.baseAddress! + sent, request.count - sent) }
            guard written > 0 else { throw CommandFailure("write failed: errno \(errno)") }
            sent += written
        }
        var filled = 0
        var headEnd: Int?
        var bodyLength = 0
        while true {
            if filled == buffer.count { buffer.append(contentsOf: repeatElement(0, count: buffer.count)) }
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            guard count > 0 else { throw CommandFailure("the listener closed the connection") }
            filled += count
            if headEnd == nil,
                let head = buffer.withUnsafeBytes({
                    BenchHTTPWire.head(in: UnsafeRawBufferPointer(rebasing: $0[0..<filled]))
                })
            {
                headEnd = head.end
                bodyLength = head.bodyLength
            }
            if let headEnd, filled >= headEnd + bodyLength {
                lastBody = headEnd..<(headEnd + bodyLength)
                return buffer.withUnsafeBytes { BenchHTTPWire.status($0) }
            }
        }
    }
}

/// A listener URL: `http://host:port/path`.
struct BenchURL: Sendable {
    var host: String
    var port: Int
    var path: String

    init(_ text: String) throws {
        guard let url = URL(string: text), url.scheme == "http", let host = url.host else {
            throw CommandFailure("--via: give an http://host:port/path URL of a listener (\(text))")
        }
        self.host = host
        port = url.port ?? 80
        path = url.path.isEmpty ? "/" : url.path + (url.query.map { "?\($0)" } ?? "")
    }
}

/// `bench --via URL`'s client: the HTTP requests of a run over keep-alive connections, on ``BenchSocketClient``
/// (epoll and plain sockets on two threads, as wrk); it hands back the client's records. Each request carries its
/// own `X-Amzn-Trace-Id` root, which the listener keeps and reports with its events, so that every response is
/// matched to its invocation.
struct BenchHTTPDriver: Sendable {
    let url: BenchURL
    let payload: [UInt8]
    let progress: BenchProgress
    /// `FUNCTION[:QUALIFIER]`: function targets through a running server's admin listener instead of a listener
    /// (`POST /invoke/TARGET/REQUEST-ID`, answered with the outcome; one connection per request, as the admin
    /// listener closes each).
    var adminInvoke: String? = nil

    init(url: BenchURL, payload: [UInt8], progress: BenchProgress, adminInvoke: String? = nil) {
        self.url = url
        self.payload = payload
        self.progress = progress
        self.adminInvoke = adminInvoke
        let method = payload.isEmpty ? "GET" : "POST"
        var suffix = "\r\n"
        if !payload.isEmpty {
            suffix += "Content-Type: application/json\r\nContent-Length: \(payload.count)\r\n"
        }
        suffix += "\r\n"
        wire = (
            Array("\(method) \(url.path) HTTP/1.1\r\nHost: \(url.host):\(url.port)\r\nX-Amzn-Trace-Id: Root=".utf8),
            Array(suffix.utf8) + payload
        )
    }

    /// What every request through the listener has before its trace root (through `Root=`) and after it (the rest of
    /// the head and the payload), made once per run.
    private var wire: (prefix: [UInt8], suffix: [UInt8])

    /// The nonce of this process's trace roots, drawn once.
    static let rootNonce = UInt32.random(in: 0...UInt32.max)
    /// Trace roots issued so far in this process (the next one's index).
    private static let roots = ManagedAtomic(0)
    static var issuedRoots: Int { roots.load(ordering: .sequentiallyConsistent) }

    /// A run's first request and how each is made from the last: through a listener the request with the trace root
    /// rewritten in place (its index is the request's slot in the recorder, ``BenchTraceRoot``); with
    /// ``adminInvoke`` a request of its own with a fresh request id.
    func requests() -> (template: [UInt8], build: BenchSocketClient.Build) {
        if let adminInvoke {
            let host = "\(url.host):\(url.port)"
            let body = payload.isEmpty ? Array("{}".utf8) : payload
            return (
                [],
                { request in
                    let id = UUID().uuidString.lowercased()
                    let head =
                        "POST /invoke/\(adminInvoke)/\(id) HTTP/1.1\r\nHost: \(host)\r\n"
                        + "Content-Type: application/json\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
                    request = Array(head.utf8) + body
                    return (id, -1)
                }
            )
        }
        let offset = wire.prefix.count
        let template = wire.prefix + BenchTraceRoot.bytes(epoch: 0, nonce: Self.rootNonce, index: 0) + wire.suffix
        return (
            template,
            { request in
                let index = Self.roots.loadThenWrappingIncrement(ordering: .sequentiallyConsistent)
                let epoch = UInt32(truncatingIfNeeded: time(nil))
                request.withUnsafeMutableBytes { bytes in
                    BenchTraceRoot.write(
                        epoch: epoch, nonce: Self.rootNonce, index: UInt64(index),
                        into: UnsafeMutableRawBufferPointer(rebasing: bytes[offset..<(offset + BenchTraceRoot.length)]))
                }
                return ("", index)
            }
        )
    }

    /// `count` requests over `connections` keep-alive connections, each sending its next request when the last
    /// answer is in (closed loop). Records carry the trace root as their request id until they are joined.
    func closedLoop(count: Int, connections: Int) async -> [ClientRecord] {
        await run(.closed(count: count), connections: connections)
    }

    /// Open loop over `connections` keep-alive connections: `seconds × rate` requests scheduled 1/`rate` s apart,
    /// connection `j` sending the scheduled requests `j`, `j + connections`, … (as wrk2 does, ``OpenLoopSchedule``).
    /// A connection that is behind its schedule sends at once; every request is timed from its scheduled time, not
    /// its actual send, so a stall counts against every request it delayed (coordinated-omission correction).
    func openLoop(seconds: Double, rate: Double, connections: Int) async -> [ClientRecord] {
        let schedule = OpenLoopSchedule(
            start: BenchDriver.now() + 1_000_000, rate: rate, seconds: seconds, connections: connections)
        return await run(.open(schedule), connections: connections)
    }

    private func run(_ schedule: BenchClientSchedule, connections: Int) async -> [ClientRecord] {
        var client = BenchSocketClient(host: url.host, port: url.port)
        let answer: BenchSocketClient.Answer
        if adminInvoke != nil {
            client.closesEach = true
            client.keepsBody = true
            answer = { status, body in Self.invokeAnswer(status, Array(body)) }
        } else {
            answer = { status, _ in Self.classify(status) }
        }
        let (template, build) = requests()
        let progress = self.progress
        return await client.run(
            schedule, connections: connections, template: template, build: build, answer: answer,
            progress: { progress.record(contentsOf: $0) })
    }

    /// The admin listener's answer to `POST /invoke`: `{"outcome", "errorType"}`.
    static func invokeAnswer(_ status: Int, _ body: [UInt8]) -> (SampleOutcome, String?) {
        guard status == 200, let object = FlatJSON.parse(body[...]),
            let outcome = object["outcome"]?.string.flatMap(SampleOutcome.init(rawValue:))
        else { return (.failed, "admin listener: HTTP \(status) \(String(decoding: body.prefix(200), as: UTF8.self))") }
        return (outcome, object["errorType"]?.string)
    }

    /// The ALB's answers for Lambda failures (alb-lambda.md §3): 502 a function error (timeouts and throttles
    /// too, which the platform's error type and the listener's `error_reason` then tell apart), 503 no target,
    /// 504 a timeout. Any other status is the function's own answer.
    static func classify(_ status: Int) -> (SampleOutcome, String?) {
        switch status {
        case 502: return (.functionError, "HTTP 502")
        case 503: return (.failed, "HTTP 503")
        case 504: return (.timeout, "HTTP 504")
        case 100..<600: return (.ok, nil)
        default: return (.failed, "HTTP \(status)")
        }
    }
}
