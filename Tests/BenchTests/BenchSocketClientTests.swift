import AlbatrossTestKit
import Bench
import Foundation
import Testing

/// `bench`'s epoll client (``BenchSocketClient``) on real sockets: against a real `albatross serve` listener, and
/// against scripted servers that misbehave (silent, endless, refusing), which it must survive within its timeouts
/// and bounded buffers, closing every socket it opened. A client whose timeouts do not work would hang: the suite's
/// time limit fails it instead.
@Suite(.timeLimit(.minutes(3))) struct BenchSocketClientTests {
    static func okay(_ status: Int, _ body: UnsafeRawBufferPointer) -> (SampleOutcome, String?) {
        status == 200 ? (.ok, nil) : (.failed, "HTTP \(status)")
    }

    static func request(port: Int) -> [UInt8] {
        Array("GET / HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\r\n".utf8)
    }

    /// Counts what a run reports as progress.
    final class Reported: @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0
        func add(_ records: ArraySlice<ClientRecord>) {
            lock.lock()
            count += records.count
            lock.unlock()
        }
        var total: Int {
            lock.lock()
            defer { lock.unlock() }
            return count
        }
    }

    @Test func closedAndOpenLoopsAgainstARealListener() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (server, _, fast, _, _) = try await BenchServerTests.serve(in: directory)
        defer { server.cleanUp() }
        let client = BenchSocketClient(host: "127.0.0.1", port: fast)
        let numbers = Numbers()
        let reported = Reported()
        let closed = await client.run(
            .closed(count: 40), connections: 4, template: Self.request(port: fast),
            build: { _ in ("", numbers.next()) }, answer: Self.okay, progress: reported.add)
        #expect(closed.count == 40 && closed.allSatisfy { $0.outcome == .ok }, "\(closed.map(\.errorType))")
        #expect(Set(closed.map(\.rootIndex)) == Set(0..<40))
        #expect(closed.allSatisfy { $0.completed > $0.sent })
        #expect(reported.total == 40)

        // 20 a second for one second over two connections: each request timed from its scheduled time.
        let schedule = OpenLoopSchedule(start: Self.now() + 50_000_000, rate: 20, seconds: 1, connections: 2)
        let open = await client.run(
            .open(schedule), connections: 2, template: Self.request(port: fast), build: { _ in ("", -1) },
            answer: Self.okay, progress: reported.add)
        #expect(open.count == 20 && open.allSatisfy { $0.outcome == .ok }, "\(open.map(\.errorType))")
        let sent = open.map(\.sent).sorted()
        #expect(sent == (0..<20).map { schedule.start + Int64($0) * 50_000_000 })
        #expect(open.allSatisfy { $0.completed > $0.sent })
        #expect(reported.total == 60)
        #expect(await server.stop().status == 0)
    }

    @Test func keepAliveConnectionsAreReusedAndResponsesMayArriveInPieces() async throws {
        let listener = try ScriptedListener { connection in
            while connection.readRequest() {
                connection.write("HTTP/1.1 200 OK\r\nConte")
                usleep(2_000)
                connection.write("nt-Length: 5\r\n\r")
                usleep(2_000)
                connection.write("\nhel")
                connection.write("lo")
            }
        }
        defer { listener.stop() }
        let client = BenchSocketClient(host: "127.0.0.1", port: listener.port)
        let records = await client.run(
            .closed(count: 30), connections: 3, template: Self.request(port: listener.port),
            build: { _ in ("", -1) }, answer: Self.okay, progress: { _ in })
        #expect(records.count == 30 && records.allSatisfy { $0.outcome == .ok }, "\(records.map(\.errorType))")
        #expect(listener.accepted == 3)
        // Every socket the client opened is closed once the run returns.
        #expect(await listener.waitAllClosed())
    }

    @Test func aSilentServerTimesOut() async throws {
        let listener = try ScriptedListener { connection in
            _ = connection.readRequest()
            connection.waitForClose()
        }
        defer { listener.stop() }
        var client = BenchSocketClient(host: "127.0.0.1", port: listener.port)
        client.timeouts = .init(connect: 1_000_000_000, response: 300_000_000)
        let start = Self.now()
        let records = await client.run(
            .closed(count: 4), connections: 2, template: Self.request(port: listener.port),
            build: { _ in ("", -1) }, answer: Self.okay, progress: { _ in })
        let elapsed = Self.now() - start
        #expect(records.count == 4 && records.allSatisfy { $0.outcome == .failed })
        #expect(records.allSatisfy { $0.errorType == "no answer in 0.3 s" }, "\(records.map(\.errorType))")
        // Two rounds of two connections, 300 ms each.
        #expect(elapsed >= 600_000_000 && elapsed < 5_000_000_000, "\(elapsed)")
        #expect(records.allSatisfy { $0.completed - $0.sent >= 300_000_000 })
        #expect(listener.accepted == 4)
        #expect(await listener.waitAllClosed())
    }

    @Test func anEndlessHeadFillsTheBufferAndFails() async throws {
        let listener = try ScriptedListener { connection in
            guard connection.readRequest() else { return }
            connection.write("HTTP/1.1 200 OK\r\nX-Endless: ")
            let chunk = String(repeating: "z", count: 4096)
            while connection.write(chunk) {}
        }
        defer { listener.stop() }
        var client = BenchSocketClient(host: "127.0.0.1", port: listener.port)
        client.bufferSize = 16_384
        let records = await client.run(
            .closed(count: 2), connections: 1, template: Self.request(port: listener.port),
            build: { _ in ("", -1) }, answer: Self.okay, progress: { _ in })
        #expect(records.count == 2)
        #expect(records.allSatisfy { $0.errorType == "a response head over 16384 bytes" }, "\(records)")
        // Each failure closed its connection; the next request connected anew.
        #expect(listener.accepted == 2)
        #expect(await listener.waitAllClosed())
    }

    @Test func aRefusedConnectionFailsEveryRequestWithoutNesting() async throws {
        let port = try FreePort.next()
        let client = BenchSocketClient(host: "127.0.0.1", port: port)
        let reported = Reported()
        // Each refusal is immediate: the next request is made in the loop, not inside the failed one (which would
        // nest 10,000 calls deep on each thread).
        let records = await client.run(
            .closed(count: 20_000), connections: 2, template: Self.request(port: port), build: { _ in ("", -1) },
            answer: Self.okay, progress: reported.add)
        #expect(records.count == 20_000)
        #expect(records.allSatisfy { $0.outcome == .failed && ($0.errorType ?? "").hasPrefix("cannot connect") })
        #expect(reported.total == 20_000)
    }

    static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }
}

/// Trace-root indices for a test's requests, from 0.
private final class Numbers: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value - 1
    }
}

/// A TCP server on 127.0.0.1 (a port the OS chooses) that runs `script` for each connection on a thread of its
/// own; ``stop()`` closes the listening socket and every connection still open.
final class ScriptedListener: @unchecked Sendable {
    final class Connection: @unchecked Sendable {
        let fd: Int32
        private var pending: [UInt8] = []

        init(fd: Int32) { self.fd = fd }

        /// Reads through the end of a request head (the client's requests have no body); false once the client
        /// closed the connection.
        func readRequest() -> Bool {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                if let end = pending.firstRange(of: [13, 10, 13, 10]) {
                    pending.removeSubrange(..<end.upperBound)
                    return true
                }
                let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
                guard count > 0 else { return false }
                pending += buffer[0..<count]
            }
        }

        /// False once the client is gone.
        @discardableResult
        func write(_ text: String) -> Bool {
            let bytes = Array(text.utf8)
            var sent = 0
            while sent < bytes.count {
                let count = bytes.withUnsafeBytes {
                    send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL))
                }
                guard count > 0 else { return false }
                sent += count
            }
            return true
        }

        /// Blocks until the client closes the connection (or the listener stops).
        func waitForClose() {
            var byte: UInt8 = 0
            while read(fd, &byte, 1) > 0 {}
        }
    }

    let port: Int
    private let fd: Int32
    private let lock = NSLock()
    private var connections: [Int32] = []
    private var openCount = 0
    private var acceptedCount = 0
    private var listenerClosed = false

    init(script: @escaping @Sendable (Connection) -> Void) throws {
        let (listening, boundPort) = try FreePort.boundSocket()
        guard listen(listening, 64) == 0 else {
            let error = errno
            close(listening)
            throw ChildProcessError("listen on 127.0.0.1:\(boundPort): errno \(error)")
        }
        fd = listening
        port = boundPort
        Thread { [self] in
            while true {
                let accepted = accept(listening, nil, nil)
                guard accepted >= 0 else { break }
                lock.lock()
                connections.append(accepted)
                acceptedCount += 1
                openCount += 1
                lock.unlock()
                Thread { [self] in
                    let connection = Connection(fd: accepted)
                    script(connection)
                    connection.waitForClose()
                    // Closed under the lock, and forgotten with it, so that stop() never touches a reused number.
                    lock.lock()
                    connections.removeAll { $0 == accepted }
                    close(accepted)
                    openCount -= 1
                    lock.unlock()
                }.start()
            }
            // stop() shut the socket down; closed here, under the lock, so that stop() never touches a reused number.
            lock.lock()
            listenerClosed = true
            close(listening)
            lock.unlock()
        }.start()
    }

    /// Connections accepted so far.
    var accepted: Int {
        lock.lock()
        defer { lock.unlock() }
        return acceptedCount
    }

    /// Waits up to 5 s until the client has closed every connection it opened.
    func waitAllClosed() async -> Bool {
        for _ in 0..<500 {
            let open = lock.withLock { openCount }
            if open == 0 { return true }
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        return false
    }

    /// Stops accepting and shuts every connection down; their threads then close them.
    func stop() {
        lock.lock()
        defer { lock.unlock() }
        if !listenerClosed { shutdown(fd, Int32(SHUT_RDWR)) }
        for connection in connections { shutdown(connection, Int32(SHUT_RDWR)) }
    }
}
