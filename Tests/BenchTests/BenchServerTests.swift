import AdminServer
import AlbatrossTestKit
import Bench
import Foundation
import NIOCore
import NIOPosix
import Testing

/// `albatross bench --server`: a real `albatross serve` process, measured by a second `albatross bench` process
/// through one of its listeners, with the phases from its admin listener's `/invocations/events`.
@Suite struct BenchServerTests {
    /// A server with three listeners, `fast` (a bash function), `slow` (one that sleeps 200 ms) and `stuck` (one
    /// that overruns its 1 s timeout, one at a time at most), and an admin listener on a port the OS chooses.
    static func serve(
        in directory: TemporaryDirectory
    ) async throws -> (ServeProcess, admin: Int, fast: Int, slow: Int, stuck: Int) {
        try TestFunctions.writeBash(in: directory, name: "fast", handler: TestFunctions.albResponse(body: "hi"))
        try TestFunctions.writeBash(
            in: directory, name: "slow", handler: "sleep 0.2; " + TestFunctions.albResponse(body: "late"))
        try TestFunctions.writeBash(in: directory, name: "stuck", handler: "sleep 3; echo '{}'")
        let (fast, slow, stuck) = (try FreePort.next(), try FreePort.next(), try FreePort.next())
        let config = try directory.write(
            "serve.yaml",
            """
            dataDirectory: \(directory.url("data"))
            admin:
              address: 127.0.0.1
              port: 0
            listeners:
              - port: \(fast)
                bindAddress: 127.0.0.1
                protocol: HTTP
                defaultAction:
                  forward: fast-tg
              - port: \(slow)
                bindAddress: 127.0.0.1
                protocol: HTTP
                defaultAction:
                  forward: slow-tg
              - port: \(stuck)
                bindAddress: 127.0.0.1
                protocol: HTTP
                defaultAction:
                  forward: stuck-tg
            targetGroups:
              - name: fast-tg
                function: fast
              - name: slow-tg
                function: slow
              - name: stuck-tg
                function: stuck
            functions:
              - name: fast
                runtime: provided.al2023
                handler: x
                code: ./fast
                timeout: 30
              - name: slow
                runtime: provided.al2023
                handler: x
                code: ./slow
                timeout: 30
              - name: stuck
                runtime: provided.al2023
                handler: x
                code: ./stuck
                timeout: 1
                maximumConcurrency: 1
            """)
        let server = try await ServeProcess.start(configPath: config, listenerCount: 3)
        guard let admin = await server.adminPort() else {
            server.cleanUp()
            throw ChildProcessError("no admin listener announced:\n\(server.output)")
        }
        return (server, admin, fast, slow, stuck)
    }

    @Test func coldAndWarmAgainstARunningServerHaveEveryPhaseAndExactCounts() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (server, admin, fast, _, stuck) = try await Self.serve(in: directory)
        defer { server.cleanUp() }
        let json = directory.url("r.json")
        let result = try await AlbatrossCommand.run(
            [
                "bench", "--server", "http://127.0.0.1:\(admin)", "--via", "http://127.0.0.1:\(fast)/x", "--cold", "3",
                "--warm", "20", "--concurrency", "2", "--warmup", "2", "--json", json,
            ], timeout: 90)
        #expect(result.status == 0, "\(result)")
        #expect(!result.stderr.contains("warning"), "\(result.stderr)")
        #expect(try await schemaErrors(json) == [])
        let report = try BenchReport.read(Data(contentsOf: URL(fileURLWithPath: json)))
        let target = try #require(report.targets.first)
        let cold = try #require(target.run(.cold))
        let warm = try #require(target.run(.warm))
        // Every cold sample on a fresh environment of the server (POST /environments/retire-idle), every
        // invocation matched to its events.
        #expect(cold.samples.count == 3 && cold.count(.ok) == 3, "\(cold.outcomes)")
        #expect(cold.placements == ["coldStart": 3], "\(cold.placements)")
        #expect(warm.samples.count == 20 && warm.count(.ok) == 20, "\(warm.outcomes)")
        #expect(warm.placements["coldStart"] == nil, "\(warm.placements)")
        for phase in Phase.allCases { #expect(cold.phase(phase)?.count == 3, "cold \(phase)") }
        for phase in [Phase.send, .queueing, .invoke, .returnPath, .total] {
            #expect(warm.phase(phase)?.count == 20, "warm \(phase)")
        }
        #expect(warm.phase(.initRuntime) == nil)
        #expect((cold.phase(.initRuntime)?.p50Ms ?? 0) > 0)
        // The server's timestamps and the client's are of one clock: every phase is positive and they add up.
        for sample in cold.samples + warm.samples {
            for phase in Phase.parts {
                if let value = sample.phase(phase) { #expect(value >= 0, "\(phase) \(sample)") }
            }
            let parts = Phase.parts.compactMap { sample.phase($0) }.reduce(0, +)
            #expect(abs(parts - sample.phase(.total)!) < 0.001, "\(sample)")
        }
        // bench's own CPU only: the server is another process.
        #expect(report.client.invocations == 23)
        #expect(result.stdout.contains("invocations, the server not included)"), "\(result.stdout)")

        // The server kept serving, and no longer feeds anyone: a second bench finds it as the first did.
        let again = try await AlbatrossCommand.run(
            [
                "bench", "--server", "http://127.0.0.1:\(admin)", "--via", "http://127.0.0.1:\(fast)/x", "--cold", "1",
                "--json", json,
            ], timeout: 60)
        #expect(again.status == 0, "\(again)")
        let second = try #require(try BenchReport.read(Data(contentsOf: URL(fileURLWithPath: json))).targets.first)
        #expect(second.run(.cold)?.placements == ["coldStart": 1])

        // Failures through the listener are counted by kind, from the ALB's status and the platform's error type
        // (the feed's invokeFinished): one timeout (the ALB answers 502 for it, as for a function error) and two
        // throttles (503), none of them in the percentiles.
        let failing = try await AlbatrossCommand.run(
            [
                "bench", "--server", "http://127.0.0.1:\(admin)", "--via", "http://127.0.0.1:\(stuck)/", "--warm", "3",
                "--concurrency", "3", "--json", json,
            ], timeout: 60)
        #expect(failing.status == 0, "\(failing)")
        let failed = try #require(
            try BenchReport.read(Data(contentsOf: URL(fileURLWithPath: json))).targets.first?.run(.warm))
        #expect(failed.count(.timeout) == 1 && failed.count(.throttled) == 2, "\(failed.outcomes)")
        #expect(failed.errorTypes["HTTP 502 Sandbox.Timedout"] == 1, "\(failed.errorTypes)")
        #expect(failed.samples.count == 3 && failed.phase(.total) == nil)
        #expect(await server.stop().status == 0)
    }

    /// Function targets against a running server: invoked by its own invoker (the admin listener's
    /// `POST /invoke`), measured and reported as in-process, side by side.
    @Test func functionTargetsAgainstARunningServerGoThroughItsInvoker() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (server, admin, _, _, _) = try await Self.serve(in: directory)
        defer { server.cleanUp() }
        let json = directory.url("r.json")
        let result = try await AlbatrossCommand.run(
            [
                "bench", "fast", "slow:$LATEST", "--server", "http://127.0.0.1:\(admin)", "--cold", "2", "--warm", "6",
                "--concurrency", "2", "--json", json,
            ], timeout: 90)
        #expect(result.status == 0, "\(result)")
        #expect(!result.stderr.contains("warning"), "\(result.stderr)")
        #expect(try await schemaErrors(json) == [])
        let report = try BenchReport.read(Data(contentsOf: URL(fileURLWithPath: json)))
        #expect(report.targets.map(\.name) == ["fast", "slow:$LATEST"])
        for target in report.targets {
            let cold = try #require(target.run(.cold))
            let warm = try #require(target.run(.warm))
            #expect(cold.samples.count == 2 && cold.placements == ["coldStart": 2], "\(target.name) \(cold.placements)")
            #expect(warm.samples.count == 6 && warm.count(.ok) == 6, "\(target.name) \(warm.outcomes)")
            for phase in Phase.allCases { #expect(cold.phase(phase)?.count == 2, "\(target.name) cold \(phase)") }
            for phase in [Phase.send, .queueing, .invoke, .returnPath, .total] {
                #expect(warm.phase(phase)?.count == 6, "\(target.name) warm \(phase)")
            }
            for sample in cold.samples + warm.samples {
                let parts = Phase.parts.compactMap { sample.phase($0) }.reduce(0, +)
                #expect(abs(parts - sample.phase(.total)!) < 0.001, "\(sample)")
            }
        }
        // The 200 ms sleep is the slow function's invoke phase.
        let slowInvoke = try #require(report.targets[1].run(.warm)?.phase(.invoke)?.p50Ms)
        #expect(slowInvoke >= 200, "\(slowInvoke)")
        // An unknown function is refused before anything runs.
        let unknown = try await AlbatrossCommand.run(
            ["bench", "nope", "--server", "http://127.0.0.1:\(admin)", "--cold", "1"], timeout: 30)
        #expect(unknown.status == 1 && unknown.stderr.contains("404"), "\(unknown)")
    }

    /// A feed line bench cannot read (truncated, or in another format) is counted and reported, and the rest of
    /// the feed is read as before: against a stand-in for a server's admin listener (a real ``AdminServer`` whose
    /// `/invocations/events` the test writes itself, and whose `POST /invoke` answers at once and writes the
    /// invocation's line).
    @Test func unreadableFeedLinesAreCountedAndTheRestIsRead() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let stream = EventStream()
        let invoke = AdminServer.Route { request in
            // POST /invoke/fn/ID: the invocation's line, as the server's feed joins it, before the answer.
            let id = request.path.split(separator: "/").last.map(String.init) ?? ""
            let at = NIODeadline.now().uptimeNanoseconds
            stream.broadcast("i \(id) - - w \(at) 1 \(at) \(at + 1000) \(at + 2000) - - -")
            // Two lines bench cannot read: one cut short, one of an older server's format.
            stream.broadcast("i \(id) - - w")
            stream.broadcast(#"{"k":"placed","id":"x","at":1,"function":"fn","placement":"warm"}"#)
            return .init(status: 200, body: #"{"outcome":"ok","errorType":null}"#)
        }
        let admin = AdminServer(
            port: 0, pages: [:], routes: ["/invoke": invoke], streams: ["/invocations/events": stream], group: group)
        let port = try await admin.start()
        let heartbeats = Task {
            while !Task.isCancelled {
                stream.broadcast("l \(NIODeadline.now().uptimeNanoseconds) 0")
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        defer { heartbeats.cancel() }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let json = directory.url("r.json")
        let result = try await AlbatrossCommand.run(
            ["bench", "fn", "--server", "http://127.0.0.1:\(port)", "--warm", "3", "--json", json], timeout: 60)
        heartbeats.cancel()
        await admin.stop()
        try await group.shutdownGracefully()
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("6 lines of the server's event feed could not be read"), "\(result.stderr)")
        let warm = try #require(
            try BenchReport.read(Data(contentsOf: URL(fileURLWithPath: json))).targets.first?.run(.warm))
        #expect(warm.samples.count == 3 && warm.count(.ok) == 3, "\(warm.outcomes)")
        for phase in [Phase.send, .queueing, .invoke, .returnPath, .total] {
            #expect(warm.phase(phase)?.count == 3, "warm \(phase)")
        }
    }

    /// `--via --duration --rate` against the function that takes 200 ms, on one connection at 20 requests a
    /// second: the connection falls further behind with every request, and each is timed from its scheduled
    /// send (wrk2's correction). Timed from its actual send, every total would be about 200 ms.
    @Test func openLoopThroughTheListenerCorrectsForCoordinatedOmission() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (server, admin, fast, slow, _) = try await Self.serve(in: directory)
        defer { server.cleanUp() }
        let json = directory.url("r.json")
        let stalled = try await AlbatrossCommand.run(
            [
                "bench", "--server", "http://127.0.0.1:\(admin)", "--via", "http://127.0.0.1:\(slow)/", "--duration",
                "1s", "--rate", "20", "--concurrency", "1", "--json", json,
            ], timeout: 90)
        #expect(stalled.status == 0, "\(stalled)")
        let run = try #require(
            try BenchReport.read(Data(contentsOf: URL(fileURLWithPath: json))).targets.first?.run(.warm))
        #expect(run.requested == 20 && run.samples.count == 20 && run.count(.ok) == 20, "\(run.outcomes)")
        let samples = run.samples.sorted { $0.startMs < $1.startMs }
        // Scheduled 50 ms apart, however late each was sent.
        #expect(abs(samples[1].startMs - samples[0].startMs - 50) < 0.01)
        #expect(abs(samples[19].startMs - samples[0].startMs - 950) < 0.01)
        // The last was sent after 19 earlier ones of 200 ms each: about 19 × 150 ms behind its schedule, and that
        // wait is in its send phase and its total.
        let last = try #require(samples.last)
        #expect((last.phase(.send) ?? 0) > 2_000, "\(last)")
        #expect((last.phase(.total) ?? 0) > 2_200, "\(last)")
        // One connection: each request reached the server only after the previous answer was in, however early
        // its schedule said (so the correction is what made its send phase long).
        for (previous, next) in zip(samples, samples.dropFirst()) {
            let answered = previous.startMs + (previous.phase(.total) ?? 0)
            let arrived = next.startMs + (next.phase(.send) ?? 0)
            #expect(arrived >= answered - 0.001, "\(previous) → \(next)")
        }
        for phase in [Phase.send, .queueing, .invoke, .returnPath, .total] {
            #expect(run.phase(phase)?.count == 20, "\(phase)")
        }
        for sample in samples {
            let parts = Phase.parts.compactMap { sample.phase($0) }.reduce(0, +)
            #expect(abs(parts - sample.phase(.total)!) < 0.001, "\(sample)")
        }

        // Over 4 connections: 10 a second to the bash function, every scheduled request sent and counted on
        // schedule (how far each fell behind depends on the machine's load: a warm invoke of it forks curl twice).
        let steady = try await AlbatrossCommand.run(
            [
                "bench", "--server", "http://127.0.0.1:\(admin)", "--via", "http://127.0.0.1:\(fast)/", "--duration",
                "2s", "--rate", "10", "--concurrency", "4", "--warmup", "4", "--json", json,
            ], timeout: 60)
        #expect(steady.status == 0, "\(steady)")
        let onTime = try #require(
            try BenchReport.read(Data(contentsOf: URL(fileURLWithPath: json))).targets.first?.run(.warm))
        #expect(onTime.requested == 20 && onTime.samples.count == 20 && onTime.count(.ok) == 20, "\(onTime.outcomes)")
        let starts = onTime.samples.map(\.startMs).sorted()
        #expect(abs(starts[19] - starts[0] - 1_900) < 0.01, "\(starts)")
        #expect(onTime.phase(.send)?.count == 20 && onTime.phase(.invoke)?.count == 20)
    }

    @Test func serverOptionsAreChecked() async throws {
        let sweep = try await AlbatrossCommand.run([
            "bench", "fn", "--server", "http://127.0.0.1:1", "--warm", "1", "--memory", "128",
        ])
        #expect(sweep.status != 0 && sweep.stderr.contains("need --config"), "\(sweep)")
        let both = try await AlbatrossCommand.run([
            "bench", "--via", "http://127.0.0.1:1/", "--server", "http://127.0.0.1:1", "--config", "x.yaml",
            "--warm", "1",
        ])
        #expect(both.status != 0 && both.stderr.contains("--config FILE"), "\(both)")
        // Nothing listens there: a clear error, not a hang.
        let port = try FreePort.next()
        let absent = try await AlbatrossCommand.run(
            ["bench", "--via", "http://127.0.0.1:\(port)/", "--server", "http://127.0.0.1:\(port)", "--warm", "1"],
            timeout: 30)
        #expect(absent.status == 1 && absent.stderr.contains("cannot connect"), "\(absent)")
    }
}
