import AlbatrossTestKit
import Foundation
import Testing

/// The shutdown of the real `albatross serve`: SIGTERM and SIGINT with many requests in flight, the grace period
/// running out, and a second signal.
@Suite(.serialized)
struct ShutdownTests {
    /// A `serve` child process whose output is collected while it runs (so that it never blocks on a full pipe).
    final class ServeProcess: @unchecked Sendable {
        let process = Process()
        private(set) var port = 0
        private let lock = NSLock()
        private var collected = Data()

        init(config: String, in dir: TemporaryDirectory) async throws {
            let executable = try #require(
                PackagePaths.albatrossExecutable, "build the albatross executable first (swift build)")
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = ["serve", "--config", try dir.write("serve.yaml", config), "--quiet"]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
                let data = handle.availableData
                guard let self, !data.isEmpty else { return }
                self.lock.withLock { self.collected.append(data) }
            }
            try process.run()
            var found: Int?
            _ = await ShutdownTests.wait(seconds: 30) {
                found = self.output.firstMatch(of: #/listening on https?://127\.0\.0\.1:(\d+)/#).map { Int($0.1)! }
                return found != nil || !self.process.isRunning
            }
            guard let found else {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                Issue.record("albatross serve did not start: \(output)")
                throw CancellationError()
            }
            port = found
        }

        var pid: Int32 { process.processIdentifier }
        var output: String { lock.withLock { String(decoding: collected, as: UTF8.self) } }

        /// Waits up to `seconds` for the process to exit; true when it did.
        func waitForExit(seconds: Double) async -> Bool {
            let exited = await ShutdownTests.wait(seconds: seconds) { !process.isRunning }
            if exited { process.waitUntilExit() }
            return exited
        }

        /// SIGKILL if still running (test clean-up).
        func stop() {
            if process.isRunning {
                Glibc.kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }
    }

    /// Waits up to `seconds` for `condition`, suspending in between: a test that blocks a thread of the small
    /// cooperative pool (two on two cores) can starve the tasks of other tests running at the same time.
    static func wait(seconds: Double, until condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    /// Whether any process is left in the process group `pgid` (each runtime leads its own group).
    static func groupIsGone(_ pgid: Int32) -> Bool {
        kill(-pgid, 0) == -1 && errno == ESRCH
    }

    static func config(grace: Int, concurrency: Int = 10) -> String {
        """
        dataDirectory: ./data
        environments: {shutdownGraceSeconds: \(grace)}
        functions:
          - {name: fn, runtime: provided.al2023, handler: h, code: ./fn, timeout: 60, maximumConcurrency: \(concurrency)}
        targetGroups:
          - {name: fn-tg, function: fn}
        listeners:
          - port: 0
            defaultAction: {forward: fn-tg}
        """
    }

    /// 50 requests are running in their environments (each holds until the test lets it go, then sleeps 1 s) when
    /// the signal arrives: each one gets its own answer, the process exits 0 and no runtime is left.
    @Test(arguments: [SIGTERM, SIGINT])
    func aSignalLetsFiftyRequestsInFlightFinish(signal: Int32) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // Each invoke blocks reading one line from a FIFO (no polling, so 50 waiting runtimes cost no CPU that
        // other tests running meanwhile need); the test writes the lines after the signal.
        let gate = dir.url("gate")
        #expect(mkfifo(gate, 0o600) == 0)
        let handler = """
            exec 3<>'\(gate)'
            read -r _ <&3
            sleep 1
            n=$(printf '%s' "$1" | sed -n 's/.*"path":"\\/r\\/\\([0-9]*\\)".*/\\1/p')
            printf '{"statusCode":200,"body":"done %s"}' "$n"
            """
        try TestFunctions.writeBash(in: dir, name: "fn", handler: handler)
        let server = try await ServeProcess(config: Self.config(grace: 30, concurrency: 60), in: dir)
        defer { server.stop() }
        let count = 50
        let port = server.port
        async let responses = onThreads(count) { index in
            try RawHTTPClient(port: port, timeout: 60).request("GET", "/r/\(index)")
        }
        // The signal only once every request is running in its environment (its START line is in the log).
        let running = await Self.wait(seconds: 60) {
            ServeCommandTests.startLines(in: dir.url("data/aws/lambda/fn")) >= count
        }
        #expect(running, "\(count) requests in flight")
        let runtimes = ProcessTree.children(of: server.pid)
        #expect(runtimes.count == count, "one runtime per request in flight")
        kill(server.pid, signal)
        let name = signal == SIGINT ? "SIGINT" : "SIGTERM"
        #expect(await Self.wait(seconds: 10) { server.output.contains("received \(name), shutting down") })
        // Still waiting for the requests: the server is draining, not gone.
        #expect(server.process.isRunning)
        // Read-write, so that opening never blocks, even if no runtime holds the FIFO open.
        let writer = FileHandle(fileDescriptor: open(gate, O_RDWR), closeOnDealloc: true)
        writer.write(Data(String(repeating: "go\n", count: count).utf8))
        let answers = try await responses
        for (index, answer) in answers.enumerated() {
            #expect(answer.status == 200 && answer.text == "done \(index)", "request \(index): \(answer.text)")
        }
        #expect(await server.waitForExit(seconds: 30))
        #expect(server.process.terminationReason == .exit && server.process.terminationStatus == 0, "\(server.output)")
        #expect(server.output.contains("albatross: stopped"))
        #expect(!server.output.contains("still in flight"), "nothing was cut off")
        for pid in runtimes {
            #expect(await Self.wait(seconds: 5) { Self.groupIsGone(pid) }, "runtime \(pid) and its children are gone")
        }
    }

    /// A request that outlasts `shutdownGraceSeconds`: the server waits the grace period, then closes the
    /// connection without an answer (the client sees the connection closed), stops the runtime and exits 0.
    @Test func theShutdownGraceRunningOutClosesTheConnection() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TestFunctions.writeBash(
            in: dir, name: "fn", handler: #"sleep 30; printf '{"statusCode":200,"body":"late"}'"#)
        let grace = 2.0
        let server = try await ServeProcess(config: Self.config(grace: Int(grace)), in: dir)
        defer { server.stop() }
        let port = server.port
        async let outcome = onThreads(1) { _ in
            Result { try RawHTTPClient(port: port, timeout: 60).request("GET", "/slow") }
        }
        #expect(await Self.wait(seconds: 20) { ServeCommandTests.startLines(in: dir.url("data/aws/lambda/fn")) >= 1 })
        let runtimes = ProcessTree.children(of: server.pid)
        #expect(runtimes.count == 1)
        let signalled = Date()
        kill(server.pid, SIGTERM)
        // The bound: the grace period, then closing connections, stopping one environment and flushing the logs.
        #expect(await server.waitForExit(seconds: grace + 10), "exits within the grace period and a bounded margin")
        let elapsed = Date().timeIntervalSince(signalled)
        #expect(elapsed >= grace - 0.2, "it waited for the request for the grace period: \(elapsed) s")
        #expect(server.process.terminationReason == .exit && server.process.terminationStatus == 0, "\(server.output)")
        #expect(
            server.output.contains("1 request(s) still in flight after 2.0 seconds, closing them"), "\(server.output)")
        let result = try await outcome[0]
        #expect(throws: RawHTTPClient.ClientError.self, "the connection is closed without an answer") {
            try result.get()
        }
        for pid in runtimes {
            #expect(await Self.wait(seconds: 5) { Self.groupIsGone(pid) }, "runtime \(pid) is gone")
        }
    }

    /// A second SIGTERM while the first one's shutdown waits for a request: the server exits at once with
    /// 128 + SIGTERM, and kills the runtimes first.
    @Test func aSecondSignalExitsAtOnce() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TestFunctions.writeBash(
            in: dir, name: "fn", handler: #"sleep 30; printf '{"statusCode":200,"body":"late"}'"#)
        let server = try await ServeProcess(config: Self.config(grace: 30), in: dir)
        defer { server.stop() }
        let port = server.port
        async let outcome = onThreads(1) { _ in
            Result { try RawHTTPClient(port: port, timeout: 60).request("GET", "/slow") }
        }
        #expect(await Self.wait(seconds: 20) { ServeCommandTests.startLines(in: dir.url("data/aws/lambda/fn")) >= 1 })
        let runtimes = ProcessTree.children(of: server.pid)
        #expect(runtimes.count == 1)
        kill(server.pid, SIGTERM)
        #expect(await Self.wait(seconds: 10) { server.output.contains("received SIGTERM, shutting down") })
        #expect(server.process.isRunning, "the first signal waits for the request (grace 30 s)")
        let second = Date()
        kill(server.pid, SIGTERM)
        #expect(await server.waitForExit(seconds: 5))
        #expect(Date().timeIntervalSince(second) < 5, "at once, not after the grace period")
        #expect(server.process.terminationReason == .exit && server.process.terminationStatus == 128 + SIGTERM)
        #expect(server.output.contains("received SIGTERM again, exiting at once"), "\(server.output)")
        let result = try await outcome[0]
        #expect(throws: (any Error).self, "the request in flight gets no answer") { try result.get() }
        for pid in runtimes {
            #expect(await Self.wait(seconds: 5) { Self.groupIsGone(pid) }, "runtime \(pid) is gone")
        }
    }
}
