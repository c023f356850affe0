import AlbatrossTestKit
import Foundation
import Testing

/// The shutdown of the real `albatross serve`: SIGTERM and SIGINT with many requests in flight, the grace period
/// running out, and a second signal.
@Suite(.serialized)
struct ShutdownTests {
    /// A `serve` child process. Its output goes to a file, so that nothing of it is buffered in the test process
    /// (which other suites measure, see HostileInputTests) and it never blocks on a full pipe.
    final class ServeProcess: @unchecked Sendable {
        let process = Process()
        let outputPath: String
        private(set) var port = 0

        init(config: String, in dir: TemporaryDirectory) async throws {
            let executable = try #require(
                PackagePaths.albatrossExecutable, "build the albatross executable first (swift build)")
            outputPath = try dir.write("serve.out", "")
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = ["serve", "--config", try dir.write("serve.yaml", config), "--quiet"]
            let output = try #require(FileHandle(forWritingAtPath: outputPath))
            process.standardOutput = output
            process.standardError = output
            try process.run()
            try output.close()
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
        var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

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

    /// A `curl` run in its own process: real clients, and no client threads or buffers in the test process.
    /// `-w` output (one line per transfer) goes to a file read by ``finish()``.
    final class Curl: @unchecked Sendable {
        let process = Process()
        let outputPath: String

        init(_ arguments: [String], in dir: TemporaryDirectory, name: String) throws {
            outputPath = try dir.write("\(name).curl", "")
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["curl", "-s", "--max-time", "180"] + arguments
            let output = try #require(FileHandle(forWritingAtPath: outputPath))
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            try output.close()
        }

        /// Curl's exit status and what `-w` wrote, once it has ended.
        func finish() async -> (status: Int32, written: String) {
            _ = await ShutdownTests.wait(seconds: 90) { !process.isRunning }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            return (process.terminationStatus, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
        }
    }

    /// Waits up to `seconds` for `condition`, suspending in between: a test that blocks a thread of the small
    /// cooperative pool (two on two cores) can starve the tasks of other tests running at the same time.
    static func wait(seconds: Double, until condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }

    /// The size of a file (0 when missing).
    static func size(of path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
    }

    /// Whether any process is left in the process group `pgid` (each runtime leads its own group).
    static func groupIsGone(_ pgid: Int32) -> Bool {
        kill(-pgid, 0) == -1 && errno == ESRCH
    }

    static func config(grace: Int, concurrency: Int = 10, timeout: Int = 60) -> String {
        """
        dataDirectory: ./data
        environments: {shutdownGraceSeconds: \(grace)}
        functions:
          - {name: fn, runtime: provided.al2023, handler: h, code: ./fn, timeout: \(timeout), maximumConcurrency: \(concurrency)}
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
            printf x >> '\(dir.url("ready"))'
            exec 3<>'\(gate)'
            read -r _ <&3
            sleep 1
            re='"path":"/r/([0-9]+)"'; n=none; [[ $1 =~ $re ]] && n=${BASH_REMATCH[1]}
            printf '{"statusCode":200,"body":"done %s"}' "$n"
            """
        try TestFunctions.writeBash(in: dir, name: "fn", handler: handler)
        let server = try await ServeProcess(config: Self.config(grace: 30, concurrency: 60), in: dir)
        defer { server.stop() }
        let count = 50
        try FileManager.default.createDirectory(atPath: dir.url("out"), withIntermediateDirectories: true)
        // Cold starts in waves of ten, and releases likewise: fifty runtimes starting at the same instant would
        // starve the tests that run meanwhile (their timeouts are a few seconds).
        var clients: [Curl] = []
        for wave in 0..<(count / 10) {
            let urls = "http://127.0.0.1:\(server.port)/r/[\(wave * 10)-\(wave * 10 + 9)]"
            let arguments = [
                "--parallel", "--parallel-immediate", "--parallel-max", "10", "-o", dir.url("out/#1"), "-w",
                "%{http_code}\\n", urls,
            ]
            clients.append(try Curl(arguments, in: dir, name: "wave\(wave)"))
            try await Task.sleep(for: .milliseconds(300))
        }
        // The signal only once every request is running in its function (each wrote one byte to `ready`).
        let running = await Self.wait(seconds: 60) { Self.size(of: dir.url("ready")) >= count }
        #expect(running, "\(count) requests in flight")
        let runtimes = ProcessTree.runtimeChildren(of: server.pid)
        #expect(runtimes.count == count, "one runtime per request in flight")
        kill(server.pid, signal)
        let name = signal == SIGINT ? "SIGINT" : "SIGTERM"
        #expect(await Self.wait(seconds: 10) { server.output.contains("received \(name), shutting down") })
        // Still waiting for the requests: the server is draining, not gone.
        #expect(server.process.isRunning)
        // Read-write, so that opening never blocks, even if no runtime holds the FIFO open.
        let writer = FileHandle(fileDescriptor: open(gate, O_RDWR), closeOnDealloc: true)
        for _ in 0..<(count / 10) {
            writer.write(Data(String(repeating: "go\n", count: 10).utf8))
            try await Task.sleep(for: .milliseconds(200))
        }
        for client in clients {
            let (status, written) = await client.finish()
            #expect(status == 0 && written == String(repeating: "200\n", count: 10), "curl \(status): \(written)")
        }
        for index in 0..<count {
            let body = (try? String(contentsOfFile: dir.url("out/\(index)"), encoding: .utf8)) ?? ""
            #expect(body == "done \(index)", "request \(index) got its own answer")
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
        let client = try Curl(
            ["-o", dir.url("body"), "-w", "%{http_code}", "http://127.0.0.1:\(server.port)/slow"], in: dir, name: "slow"
        )
        #expect(await Self.wait(seconds: 20) { ServeCommandTests.startLines(in: dir.url("data/aws/lambda/fn")) >= 1 })
        let runtimes = ProcessTree.runtimeChildren(of: server.pid)
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
        // curl: 52 "Empty reply from server" (or 56 if the close came as a reset); no status.
        let (status, written) = await client.finish()
        #expect([52, 56].contains(status) && written == "000", "closed without an answer: curl \(status), \(written)")
        for pid in runtimes {
            #expect(await Self.wait(seconds: 5) { Self.groupIsGone(pid) }, "runtime \(pid) is gone")
        }
    }

    /// A second SIGTERM while the first one's shutdown waits for a request: the server exits at once with
    /// 128 + SIGTERM, and kills the runtimes first. The request in flight never gets the function's answer: its
    /// connection is closed, or, when the killed runtime's failure reaches the client before the exit, a 502.
    @Test func aSecondSignalExitsAtOnce() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TestFunctions.writeBash(
            in: dir, name: "fn", handler: #"sleep 120; printf '{"statusCode":200,"body":"late"}'"#)
        let server = try await ServeProcess(config: Self.config(grace: 90, timeout: 150), in: dir)
        defer { server.stop() }
        let client = try Curl(
            ["-o", dir.url("body"), "-w", "%{http_code}", "http://127.0.0.1:\(server.port)/slow"], in: dir, name: "slow"
        )
        #expect(await Self.wait(seconds: 20) { ServeCommandTests.startLines(in: dir.url("data/aws/lambda/fn")) >= 1 })
        let runtimes = ProcessTree.runtimeChildren(of: server.pid)
        #expect(runtimes.count == 1)
        kill(server.pid, SIGTERM)
        #expect(await Self.wait(seconds: 10) { server.output.contains("received SIGTERM, shutting down") })
        #expect(server.process.isRunning, "the first signal waits for the request (grace 90 s)")
        let second = Date()
        kill(server.pid, SIGTERM)
        // Far below the grace period (90 s) and the function's sleep (120 s); the margin is for a loaded machine.
        #expect(await server.waitForExit(seconds: 30))
        #expect(Date().timeIntervalSince(second) < 30, "at once, not after the grace period")
        #expect(server.process.terminationReason == .exit && server.process.terminationStatus == 128 + SIGTERM)
        #expect(server.output.contains("received SIGTERM again, exiting at once"), "\(server.output)")
        let (status, written) = await client.finish()
        #expect(
            (status == 0 && written == "502") || ([52, 56].contains(status) && written == "000"),
            "a 502 or the connection closed, never the function's answer: curl \(status), \(written)")
        for pid in runtimes {
            #expect(await Self.wait(seconds: 5) { Self.groupIsGone(pid) }, "runtime \(pid) is gone")
        }
    }
}
