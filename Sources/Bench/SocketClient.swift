import Atomics
import CBenchSupport
import Foundation
import Glibc

/// What the client saw of one invocation.
public struct ClientRecord: Sendable {
    /// The request id bench chose (in-process, and function targets through `--server`); empty through a listener.
    public var requestID: String
    /// Through a listener (`--via`): the index of the trace root the request carried (``BenchTraceRoot``); -1
    /// otherwise.
    public var rootIndex: Int = -1
    /// Intended send time (monotonic ns).
    public var sent: Int64
    public var completed: Int64
    public var outcome: SampleOutcome
    public var errorType: String?

    public init(
        requestID: String, rootIndex: Int = -1, sent: Int64, completed: Int64, outcome: SampleOutcome,
        errorType: String?
    ) {
        self.requestID = requestID
        self.rootIndex = rootIndex
        self.sent = sent
        self.completed = completed
        self.outcome = outcome
        self.errorType = errorType
    }
}

/// `bench --via`'s HTTP/1.1 client, written on epoll and plain sockets as wrk is: a few threads (``threads``), each
/// owning its share of the run's keep-alive connections and sleeping in one `epoll_pwait2` for all of them. Per
/// request it makes one `send` and (for the listener's small answers) one `read`; the request's bytes are rewritten
/// in place (``Build``), the answer is read into a fixed buffer of the connection and parsed by byte scans
/// (``BenchResponseReader``), and the records go into arrays reserved up front. Nothing is shared between threads
/// per request but an atomic counter (the closed loop's next request) and the caller's own ``Build``; progress is
/// handed over in batches at most every 50 ms.
///
/// Every connection is bounded in time and space: ``Timeouts/connect`` to connect, ``Timeouts/response`` from the
/// request's send to the end of its answer, and ``bufferSize`` bytes for a response's head (and body, when kept).
/// After a failure the connection is closed and the next request connects again.
public struct BenchSocketClient: Sendable {
    public struct Timeouts: Sendable {
        /// Nanoseconds.
        public var connect: Int64
        /// Nanoseconds, from the request's send to the end of its answer.
        public var response: Int64

        public init(connect: Int64, response: Int64) {
            self.connect = connect
            self.response = response
        }

        /// 10 s to connect, and 16 minutes for an answer: Lambda's longest function timeout (15 minutes) and a
        /// minute more.
        public static let standard = Timeouts(connect: 10_000_000_000, response: 960_000_000_000)
    }

    /// Rewrites a connection's request before it is sent (the request's bytes start as the run's template, and
    /// keep what the last call left): returns its request id and trace-root index (``ClientRecord``). Called on the
    /// client's threads, before the request's send time is taken.
    public typealias Build = @Sendable (_ request: inout [UInt8]) -> (requestID: String, rootIndex: Int)
    /// The outcome of a whole answer, from its status and (with ``keepsBody``) its body.
    public typealias Answer = @Sendable (_ status: Int, _ body: UnsafeRawBufferPointer) -> (SampleOutcome, String?)
    /// Records completed since the last call, on one of the client's threads.
    public typealias Progress = @Sendable (_ records: ArraySlice<ClientRecord>) -> Void

    public let host: String
    public let port: Int
    /// Threads of a run (at most one per connection): two, as `wrk -t2`.
    public var threads = 2
    public var timeouts = Timeouts.standard
    /// Each connection's read buffer: the largest response head, and with ``keepsBody`` the largest answer.
    public var bufferSize = 65_536
    /// Each request on a connection of its own (for a server that closes each, as the admin listener does).
    public var closesEach = false
    /// Whether ``Answer`` is given the body (otherwise its bytes are counted, not kept).
    public var keepsBody = false

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Runs `schedule` over `connections` connections (fewer when it has fewer requests); every request is
    /// `template` as rewritten by `build`. Returns once every connection has done its part; the records are in no
    /// particular order.
    public func run(
        _ schedule: BenchClientSchedule, connections: Int, template: [UInt8], build: @escaping Build,
        answer: @escaping Answer, progress: @escaping Progress
    ) async -> [ClientRecord] {
        let used = schedule.connections(connections)
        let threads = max(1, min(self.threads, used))
        let shared = SocketClientRun(
            client: self, schedule: schedule, address: SocketAddress(host: host, port: port), template: template,
            build: build, answer: answer, progress: progress)
        let workers = (0..<threads).map { thread in
            SocketClientWorker(
                run: shared, connections: Array(stride(from: thread, to: used, by: threads)))
        }
        let collected = SocketClientCollector(remaining: threads)
        return await withCheckedContinuation { (continuation: CheckedContinuation<[ClientRecord], Never>) in
            for (number, worker) in workers.enumerated() {
                let thread = Thread {
                    worker.work()
                    if let records = collected.add(worker.records) { continuation.resume(returning: records) }
                }
                thread.name = "albatross-bench-client-\(number)"
                thread.start()
            }
        }
    }
}

/// What the threads of one run share.
private final class SocketClientRun: Sendable {
    let client: BenchSocketClient
    let schedule: BenchClientSchedule
    let address: SocketAddress?
    let template: [UInt8]
    let build: BenchSocketClient.Build
    let answer: BenchSocketClient.Answer
    let progress: BenchSocketClient.Progress
    /// The closed loop's requests handed out so far.
    let issued = ManagedAtomic(0)

    init(
        client: BenchSocketClient, schedule: BenchClientSchedule, address: SocketAddress?, template: [UInt8],
        build: @escaping BenchSocketClient.Build, answer: @escaping BenchSocketClient.Answer,
        progress: @escaping BenchSocketClient.Progress
    ) {
        self.client = client
        self.schedule = schedule
        self.address = address
        self.template = template
        self.build = build
        self.answer = answer
        self.progress = progress
    }
}

/// The records of a run's threads, handed back when the last one is done.
private final class SocketClientCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var records: [ClientRecord] = []
    private var remaining: Int

    init(remaining: Int) { self.remaining = remaining }

    /// All the records once this was the last thread's.
    func add(_ part: [ClientRecord]) -> [ClientRecord]? {
        lock.lock()
        defer { lock.unlock() }
        records += part
        remaining -= 1
        return remaining == 0 ? records : nil
    }
}

/// The server's address, resolved once per run.
private struct SocketAddress: Sendable {
    let family: Int32
    let storage: [UInt8]

    init?(host: String, port: Int) {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host == "localhost" ? "127.0.0.1" : host, String(port), &hints, &list) == 0,
            let first = list, let address = first.pointee.ai_addr
        else { return nil }
        defer { freeaddrinfo(list) }
        family = first.pointee.ai_family
        storage = Array(UnsafeRawBufferPointer(start: address, count: Int(first.pointee.ai_addrlen)))
    }
}

/// One connection of a ``SocketClientWorker``, used on its thread only.
private final class SocketConnection {
    enum Phase {
        /// No request: the next is to be made (``SocketClientWorker/ready``).
        case idle
        /// A request made, to be sent at ``SocketConnection/at``.
        case waiting
        case connecting
        case sending
        case receiving
        /// Its part of the run is over.
        case done
    }

    /// Its number in the run (an open loop's schedule is by connection).
    let number: Int
    /// Its index in its worker's connections (the epoll event's data).
    let slot: Int
    var fd: Int32 = -1
    var phase = Phase.idle
    /// The events it is registered for in the worker's epoll set (0: not registered).
    var interest: UInt32 = 0
    var request: [UInt8]
    /// Bytes of the request sent so far.
    var written = 0
    let buffer: UnsafeMutableRawBufferPointer
    var filled = 0
    var reader: BenchResponseReader
    var record = ClientRecord(requestID: "", sent: 0, completed: 0, outcome: .failed, errorType: nil)
    /// When waiting, the send time; when connecting, sending or receiving, the deadline.
    var at: Int64 = 0
    /// Requests of an open loop's schedule taken so far.
    var sequence = 0

    init(number: Int, slot: Int, template: [UInt8], bufferSize: Int, keepsBody: Bool) {
        self.number = number
        self.slot = slot
        request = template
        buffer = .allocate(byteCount: bufferSize, alignment: 16)
        reader = BenchResponseReader(capacity: bufferSize, keepsBody: keepsBody)
    }

    deinit { buffer.deallocate() }
}

/// One thread of a run: its connections, one epoll set, and the records it made.
private final class SocketClientWorker: @unchecked Sendable {
    private let run: SocketClientRun
    private let client: BenchSocketClient
    private let connections: [SocketConnection]
    private(set) var records: [ClientRecord] = []
    private var unreported: [ClientRecord] = []
    private var lastReport: Int64 = 0
    /// Connections whose next request is to be made, in the loop rather than by recursion (a server that refuses
    /// every connection would otherwise nest one call per request).
    private var ready: [SocketConnection] = []
    private var active = 0
    private var epoll: Int32 = -1

    /// A request scheduled less than this far ahead is sent at once.
    private static let earlyEnough: Int64 = 20_000
    private static let reportEvery: Int64 = 50_000_000

    /// `numbers`: its connections' numbers in the run.
    init(run: SocketClientRun, connections numbers: [Int]) {
        self.run = run
        client = run.client
        connections = numbers.enumerated().map {
            SocketConnection(
                number: $0.element, slot: $0.offset, template: run.template, bufferSize: run.client.bufferSize,
                keepsBody: run.client.keepsBody)
        }
        let expected: Int
        switch run.schedule {
        // A closed loop's connections share the requests as their answers come: one thread may make them all.
        case .closed(let count): expected = count
        case .open(let schedule): expected = (schedule.total / schedule.connections + 1) * numbers.count
        }
        records.reserveCapacity(expected + numbers.count)
        unreported.reserveCapacity(1024)
        ready.reserveCapacity(numbers.count)
    }

    static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Int64(time.tv_sec) &* 1_000_000_000 &+ Int64(time.tv_nsec)
    }

    func work() {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        defer {
            for connection in connections { close(connection) }
            if epoll >= 0 { Glibc.close(epoll) }
        }
        active = connections.count
        ready = connections
        let capacity = 64
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: capacity)
        defer { events.deallocate() }
        lastReport = Self.now()
        while true {
            while let connection = ready.popLast() { next(connection) }
            guard active > 0 else { break }
            var earliest = Int64.max
            for connection in connections {
                switch connection.phase {
                case .waiting, .connecting, .sending, .receiving: earliest = min(earliest, connection.at)
                case .idle, .done: break
                }
            }
            let wait = earliest == Int64.max ? -1 : max(0, earliest - Self.now())
            let count = albatross_epoll_wait_ns(epoll, events, Int32(capacity), wait)
            if count < 0 && errno != EINTR {
                let reason = "epoll_pwait2: errno \(errno)"
                for connection in connections {
                    switch connection.phase {
                    case .waiting, .connecting, .sending, .receiving: fail(connection, reason)
                    case .idle, .done: break
                    }
                }
                break
            }
            for index in 0..<max(0, Int(count)) {
                let event = events[index]
                handle(connections[Int(event.data.u64)], event.events)
            }
            let now = Self.now()
            if earliest <= now + Self.earlyEnough {
                for connection in connections {
                    switch connection.phase {
                    case .waiting where connection.at <= now + Self.earlyEnough: send(connection)
                    case .connecting where connection.at <= now:
                        fail(
                            connection,
                            "cannot connect to \(client.host):\(client.port): timed out after "
                                + "\(Double(client.timeouts.connect) / 1e9) s")
                    case .sending where connection.at <= now, .receiving where connection.at <= now:
                        fail(connection, "no answer in \(Double(client.timeouts.response) / 1e9) s")
                    default: break
                    }
                }
            }
            if now - lastReport >= Self.reportEvery { report(now) }
        }
        report(Self.now())
    }

    private func report(_ now: Int64) {
        lastReport = now
        guard !unreported.isEmpty else { return }
        run.progress(unreported[...])
        unreported.removeAll(keepingCapacity: true)
    }

    /// Makes the connection's next request and sends it (at its time, in an open loop), or ends its part.
    private func next(_ connection: SocketConnection) {
        switch run.schedule {
        case .closed(let count):
            guard run.issued.loadThenWrappingIncrement(ordering: .relaxed) < count else { return finish(connection) }
            let (requestID, rootIndex) = run.build(&connection.request)
            let sent = Self.now()
            connection.record = ClientRecord(
                requestID: requestID, rootIndex: rootIndex, sent: sent, completed: sent, outcome: .failed,
                errorType: nil)
            send(connection)
        case .open(let schedule):
            guard let (_, at) = schedule.request(connection: connection.number, sequence: connection.sequence) else {
                return finish(connection)
            }
            connection.sequence += 1
            let (requestID, rootIndex) = run.build(&connection.request)
            connection.record = ClientRecord(
                requestID: requestID, rootIndex: rootIndex, sent: at, completed: at, outcome: .failed, errorType: nil)
            if at - Self.now() > Self.earlyEnough {
                connection.phase = .waiting
                connection.at = at
            } else {
                send(connection)
            }
        }
    }

    private func finish(_ connection: SocketConnection) {
        close(connection)
        connection.phase = .done
        active -= 1
    }

    private func send(_ connection: SocketConnection) {
        guard connection.fd >= 0 else { return connect(connection) }
        write(connection)
    }

    private func connect(_ connection: SocketConnection) {
        guard let address = run.address else { return fail(connection, "cannot resolve \(client.host)") }
        let fd = socket(
            address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
            0)
        guard fd >= 0 else { return fail(connection, "socket: errno \(errno)") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        connection.fd = fd
        let result = address.storage.withUnsafeBytes {
            Glibc.connect(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count))
        }
        if result == 0 {
            write(connection)
        } else if errno == EINPROGRESS {
            connection.phase = .connecting
            connection.at = Self.now() + client.timeouts.connect
            watch(connection, EPOLLOUT.rawValue)
        } else {
            fail(connection, "cannot connect to \(client.host):\(client.port): errno \(errno)")
        }
    }

    private func write(_ connection: SocketConnection) {
        let total = connection.request.count
        let sent = connection.request.withUnsafeBytes {
            Glibc.send(
                connection.fd, $0.baseAddress! + connection.written, total - connection.written, Int32(MSG_NOSIGNAL))
        }
        if sent > 0 { connection.written += sent }
        if connection.written == total {
            connection.written = 0
            connection.phase = .receiving
            connection.at = Self.now() + client.timeouts.response
            watch(connection, EPOLLIN.rawValue)
        } else if sent < 0 && errno != EAGAIN && errno != EINTR {
            fail(connection, "the listener closed the connection (send: errno \(errno))")
        } else {
            if connection.phase != .sending { connection.at = Self.now() + client.timeouts.response }
            connection.phase = .sending
            watch(connection, EPOLLIN.rawValue | EPOLLOUT.rawValue)
        }
    }

    /// Registers the connection's socket for `events`, when it is not already.
    private func watch(_ connection: SocketConnection, _ events: UInt32) {
        guard connection.interest != events else { return }
        var event = epoll_event()
        event.events = events
        event.data.u64 = UInt64(connection.slot)
        let operation = connection.interest == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD
        if epoll_ctl(epoll, operation, connection.fd, &event) == 0 { connection.interest = events }
    }

    private func handle(_ connection: SocketConnection, _ events: UInt32) {
        switch connection.phase {
        case .connecting:
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(connection.fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if error != 0 {
                fail(connection, "cannot connect to \(client.host):\(client.port): errno \(error)")
            } else {
                write(connection)
            }
        case .sending:
            if events & (EPOLLIN.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 {
                read(connection)
            } else {
                write(connection)
            }
        case .receiving:
            read(connection)
        case .idle, .waiting, .done:
            // A keep-alive connection between requests: the server closed it, or sent what nobody asked for.
            // Either way it is not used again; the next request connects anew.
            close(connection)
        }
    }

    private func read(_ connection: SocketConnection) {
        let count = Glibc.read(
            connection.fd, connection.buffer.baseAddress! + connection.filled,
            connection.buffer.count - connection.filled)
        if count < 0 {
            if errno == EAGAIN || errno == EINTR { return }
            return fail(connection, "the listener closed the connection (read: errno \(errno))")
        }
        guard count > 0 else { return fail(connection, "the listener closed the connection") }
        connection.filled += count
        switch connection.reader.received(UnsafeRawBufferPointer(connection.buffer), filled: &connection.filled) {
        case .incomplete:
            return
        case .failed(let reason):
            fail(connection, reason)
        case .complete(let status, let body, let excess):
            let completed = Self.now()
            let (outcome, errorType) = run.answer(status, UnsafeRawBufferPointer(rebasing: connection.buffer[body]))
            connection.record.completed = completed
            connection.record.outcome = outcome
            connection.record.errorType = errorType
            if excess || client.closesEach || connection.phase == .sending { close(connection) }
            complete(connection)
        }
    }

    /// The request in flight failed: the connection is closed, and the next request connects anew.
    private func fail(_ connection: SocketConnection, _ reason: String) {
        close(connection)
        connection.record.completed = Self.now()
        connection.record.outcome = .failed
        connection.record.errorType = reason
        complete(connection)
    }

    private func complete(_ connection: SocketConnection) {
        connection.reader.reset()
        connection.filled = 0
        connection.written = 0
        connection.phase = .idle
        records.append(connection.record)
        unreported.append(connection.record)
        ready.append(connection)
    }

    private func close(_ connection: SocketConnection) {
        guard connection.fd >= 0 else { return }
        Glibc.close(connection.fd)
        connection.fd = -1
        connection.interest = 0
    }
}
