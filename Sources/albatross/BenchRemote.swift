import AlbatrossApp
import Bench
import Foundation
import NIOConcurrencyHelpers

/// `bench --server URL`: the platform is a running `albatross serve` whose admin listener is at `URL`. Requests
/// go through one of its listeners (`--via`), or for function targets to the admin listener's `POST /invoke`
/// (the server's own invoker); fresh environments for cold samples are asked for with
/// `POST /environments/retire-idle`, and the phases come from its `/invocations/events` feed
/// (``BenchEventFeedClient``), read into the same ``BenchRecorder`` as in-process.
struct BenchRemote: BenchBackend {
    let admin: BenchURL
    /// `--via`; nil for function targets.
    let listener: BenchHTTPDriver?
    let payload: [UInt8]
    let feed: BenchEventFeedClient
    let progress: BenchProgress
    var viaListener: Bool { listener != nil }

    private func client(_ target: BenchTarget) -> BenchHTTPDriver {
        listener ?? BenchHTTPDriver(url: admin, payload: payload, progress: progress, adminInvoke: target.name)
    }

    func retireIdle(_ target: BenchTarget?) async throws {
        let body = target.map { #"{"function":\#(BenchRemote.quoted($0.function))}"# } ?? "{}"
        let request = Array(
            """
            POST /environments/retire-idle HTTP/1.1\r
            Host: \(admin.host):\(admin.port)\r
            Content-Type: application/json\r
            Content-Length: \(body.utf8.count)\r
            Connection: close\r
            \r
            \(body)
            """.utf8)
        let admin = self.admin
        // A blocking socket: on a thread of its own, not the cooperative pool.
        let status = try await Self.onThread {
            try BenchHTTPConnection(host: admin.host, port: admin.port).roundTrip(request)
        }
        guard status == 200 else {
            throw CommandFailure(
                "the server's admin listener answered \(status) to POST /environments/retire-idle"
                    + (status == 404 ? " (a server without it is older than this bench)" : ""))
        }
    }

    func closedLoop(_ target: BenchTarget, count: Int, concurrency: Int) async -> [ClientRecord] {
        await client(target).closedLoop(count: count, connections: concurrency)
    }

    func openLoop(_ target: BenchTarget, seconds: Double, rate: Double, concurrency: Int) async -> [ClientRecord] {
        await client(target).openLoop(seconds: seconds, rate: rate, connections: concurrency)
    }

    /// Waits for a heartbeat of the feed stamped 100 ms after the last answer: the server sends one only once
    /// every event emitted before its time went out, and an invocation's last event (`invokeFinished`, emitted a
    /// loop tick after its outcome) comes before the answer the client read.
    func settle(_ records: [ClientRecord]) async {
        let last = records.map(\.completed).max() ?? BenchDriver.now()
        if !(await feed.waitLive(after: last + 100_000_000, timeout: 10)) {
            ConsoleOutput.error(
                "albatross: warning: the server's event feed \(feed.failure ?? "fell behind"); phases may be missing")
        }
    }

    static func quoted(_ text: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [text])) ?? Data("[\"\"]".utf8)
        return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
    }

    static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try body() }) }
            thread.name = "albatross-bench-admin"
            thread.start()
        }
    }
}

/// Reads a server's `/invocations/events` (Server-Sent Events, chunked) on a thread of its own, handing every
/// `data:` line to the recorder (parsed as ``FeedLine``s) and keeping the last heartbeat (`l AT DROPPED`).
final class BenchEventFeedClient: Sendable {
    private struct State {
        var liveAt: Int64 = 0
        var dropped = 0
        var failure: String?
        /// The reading thread closed the socket: ``stop()`` must not touch the number (it may be reused).
        var closed = false
    }
    private let state = NIOLockedValueBox(State())
    private let fd: Int32

    /// Connects and starts reading; throws when the admin listener does not answer with an event stream.
    init(admin: BenchURL, recorder: BenchRecorder) throws {
        let connection = try BenchHTTPConnection(host: admin.host, port: admin.port)
        let fd = connection.detach()
        self.fd = fd
        let request = "GET /invocations/events HTTP/1.1\r\nHost: \(admin.host):\(admin.port)\r\n\r\n"
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress!, $0.count) }) == bytes.count else {
            Foundation.close(fd)
            throw CommandFailure("cannot send to the admin listener: errno \(errno)")
        }
        let state = self.state
        let thread = Thread {
            let failure = Self.read(fd: fd, recorder: recorder, state: state)
            state.withLockedValue { $0.failure = failure }
        }
        thread.name = "albatross-bench-feed"
        thread.start()
    }

    /// Shuts the connection down; the reading thread ends (and closes it).
    func stop() {
        state.withLockedValue { state in
            if !state.closed { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    /// Why the feed ended, when it did.
    var failure: String? { state.withLockedValue { $0.failure } }

    /// Events the server dropped for the feed so far (its last heartbeat's count).
    var droppedEvents: Int { state.withLockedValue { $0.dropped } }

    /// Waits (without blocking a thread) for a heartbeat stamped `after` or later; false after `timeout` seconds
    /// or when the feed ended.
    func waitLive(after: Int64, timeout: Double) async -> Bool {
        let deadline = BenchDriver.now() + Int64(timeout * 1e9)
        while BenchDriver.now() < deadline {
            let (live, failed) = state.withLockedValue { ($0.liveAt, $0.failure != nil) }
            if live >= after { return true }
            if failed { return false }
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
        return false
    }

    /// The reading loop: the response head, then chunks, then SSE lines. Returns why it ended.
    private static func read(fd: Int32, recorder: BenchRecorder, state: NIOLockedValueBox<State>) -> String {
        defer {
            state.withLockedValue { state in
                state.closed = true
                Foundation.close(fd)
            }
        }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var pending: [UInt8] = []  // raw bytes not parsed yet
        var body: [UInt8] = []  // de-chunked bytes not yet split into lines
        var headDone = false
        var chunkLeft = 0  // bytes of the current chunk still to come (then its CRLF)
        var inChunk = false
        while true {
            let count = buffer.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress!, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return "was closed by the server" }
            pending.append(contentsOf: buffer[0..<count])
            var position = 0
            if !headDone {
                guard let end = find(pending, [13, 10, 13, 10], from: 0) else { continue }
                let head = String(decoding: pending[0..<end], as: UTF8.self)
                guard head.hasPrefix("HTTP/1.1 200"), head.lowercased().contains("text/event-stream") else {
                    return "answered \(head.prefix(12)) instead of an event stream"
                }
                headDone = true
                position = end + 4
            }
            // De-chunk what is complete.
            while position < pending.count {
                if inChunk {
                    let take = min(chunkLeft, pending.count - position)
                    body.append(contentsOf: pending[position..<(position + take)])
                    position += take
                    chunkLeft -= take
                    if chunkLeft > 0 { break }
                    guard pending.count - position >= 2 else { break }
                    position += 2
                    inChunk = false
                } else {
                    guard let end = find(pending, [13, 10], from: position) else { break }
                    let size = Int(String(decoding: pending[position..<end], as: UTF8.self), radix: 16) ?? 0
                    position = end + 2
                    if size == 0 { return "ended" }
                    chunkLeft = size
                    inChunk = true
                }
            }
            pending.removeFirst(position)
            // Complete lines of the body: `data: LINE`, parsed in place (``FeedLine``); SSE comments and the blank
            // lines that end events are skipped, a line that cannot be read is counted.
            var lines: [FeedLine] = []
            var malformed = 0
            var start = 0
            var live: (Int64, Int)?
            body.withUnsafeBytes { bytes in
                while let newline = bytes[start...].firstIndex(of: 10) {
                    defer { start = newline + 1 }
                    guard newline - start >= 5, bytes[start] == 100 else { continue }  // "data:"
                    let from = bytes[start + 5] == 32 ? start + 6 : start + 5
                    let text = UnsafeRawBufferPointer(rebasing: bytes[from..<newline])
                    switch FeedLine.parse(text, nonce: BenchHTTPDriver.rootNonce) {
                    case .live(let at, let dropped)?: live = (at, dropped)
                    case let line?: lines.append(line)
                    case nil: malformed += 1
                    }
                }
            }
            body.removeFirst(start)
            if !lines.isEmpty || malformed > 0 { recorder.receive(feed: lines, malformed: malformed) }
            if let live {
                state.withLockedValue {
                    $0.liveAt = max($0.liveAt, live.0)
                    $0.dropped = live.1
                }
            }
        }
    }

    private static func find(_ bytes: [UInt8], _ pattern: [UInt8], from: Int) -> Int? {
        guard bytes.count >= pattern.count else { return nil }
        var index = from
        while index <= bytes.count - pattern.count {
            if bytes[index] == pattern[0] && Array(bytes[index..<(index + pattern.count)]) == pattern { return index }
            index += 1
        }
        return nil
    }
}

/// A parser of flat JSON objects (string, number, boolean and null values; no nesting): the admin listener's
/// answer to `POST /invoke` (`{"outcome", "errorType"}`).
enum FlatJSON {
    enum Value: Equatable, Sendable {
        case string(String)
        case integer(Int64)
        case number(Double)
        case bool(Bool)
        case null

        var string: String? { if case .string(let text) = self { text } else { nil } }
        var integer: Int64? { if case .integer(let value) = self { value } else { nil } }
    }

    static func parse(_ bytes: ArraySlice<UInt8>) -> [String: Value]? {
        var index = bytes.startIndex
        let end = bytes.endIndex
        func skipSpace() { while index < end, bytes[index] == 32 || bytes[index] == 9 { index += 1 } }
        func string() -> String? {
            guard index < end, bytes[index] == 34 else { return nil }
            index += 1
            var result: [UInt8] = []
            while index < end {
                let byte = bytes[index]
                index += 1
                switch byte {
                case 34: return String(decoding: result, as: UTF8.self)
                case 92:
                    guard index < end else { return nil }
                    let escaped = bytes[index]
                    index += 1
                    switch escaped {
                    case 110: result.append(10)
                    case 114: result.append(13)
                    case 116: result.append(9)
                    case 98: result.append(8)
                    case 102: result.append(12)
                    case 117:
                        guard end - index >= 4,
                            let code = UInt32(String(decoding: bytes[index..<(index + 4)], as: UTF8.self), radix: 16),
                            let scalar = Unicode.Scalar(code)
                        else { return nil }
                        index += 4
                        result.append(contentsOf: Array(String(Character(scalar)).utf8))
                    default: result.append(escaped)
                    }
                default: result.append(byte)
                }
            }
            return nil
        }
        skipSpace()
        guard index < end, bytes[index] == 123 else { return nil }
        index += 1
        var object: [String: Value] = [:]
        while true {
            skipSpace()
            if index < end, bytes[index] == 125 { return object }
            guard let key = string() else { return nil }
            skipSpace()
            guard index < end, bytes[index] == 58 else { return nil }
            index += 1
            skipSpace()
            guard index < end else { return nil }
            let value: Value
            switch bytes[index] {
            case 34:
                guard let text = string() else { return nil }
                value = .string(text)
            case 116, 102, 110:
                let words: [(String, Value)] = [("true", .bool(true)), ("false", .bool(false)), ("null", .null)]
                guard
                    let (word, found) = words.first(where: { word, _ in
                        end - index >= word.utf8.count
                            && bytes[index..<(index + word.utf8.count)].elementsEqual(word.utf8)
                    })
                else { return nil }
                index += word.utf8.count
                value = found
            default:
                let start = index
                while index < end, bytes[index] != 44, bytes[index] != 125, bytes[index] != 32 { index += 1 }
                let text = String(decoding: bytes[start..<index], as: UTF8.self)
                if let integer = Int64(text) {
                    value = .integer(integer)
                } else if let number = Double(text) {
                    value = .number(number)
                } else {
                    return nil
                }
            }
            object[key] = value
            skipSpace()
            guard index < end else { return nil }
            if bytes[index] == 44 {
                index += 1
            } else if bytes[index] == 125 {
                return object
            } else {
                return nil
            }
        }
    }
}
