import AlbatrossTestKit
import Foundation
import Testing

/// Runtimes killed with SIGKILL at random while keep-alive clients keep a function at its maximum concurrency
/// (issue 8, "make it stay fixed"): every request gets an answer (200, or 502 for the invokes the kills cut
/// short, and the throttles while replacements start), none hangs, nothing of a killed runtime is left, and the
/// pool serves every request again once the killing stops. Loopback only; about 20 s, at about 10 requests a
/// second so as not to starve the suites running beside it. Only bounds, no timing figures: it must hold on a
/// loaded 2-core machine.
@Suite(.serialized)
struct ChaosTests {
    static let concurrency = 4
    /// The function timeout: the longest an answer may take (a cut invoke is answered at once; one that lost its
    /// runtime in a way nobody noticed would be answered by the timeout).
    static let timeout = 5

    struct ClientReport: Sendable {
        var statuses: [Int: Int] = [:]
        /// Requests that got no answer (closed, reset or timed out), with what happened.
        var failures: [String] = []
        var longest: Double = 0
        /// The runtimes that answered (the function returns its pid).
        var runtimes: Set<Int32> = []
    }

    /// One keep-alive client sending requests until `deadline` (or `count` of them), reconnecting only when the
    /// server closed the connection.
    static func client(port: Int, name: String, until deadline: Date? = nil, count: Int = .max) -> ClientReport {
        var report = ClientReport()
        var connection: RawHTTPClient?
        var sent = 0
        while sent < count, deadline.map({ Date() < $0 }) ?? true {
            sent += 1
            let started = Date()
            do {
                let client = try connection ?? RawHTTPClient(port: port, timeout: Double(timeout + 15))
                connection = client
                let response = try client.request("GET", "/\(name)/\(sent)")
                report.statuses[response.status, default: 0] += 1
                if response.status == 200, let pid = Int32(response.text) { report.runtimes.insert(pid) }
                if response.header("connection")?.lowercased() == "close" { connection = nil }
            } catch {
                report.failures.append("\(name) request \(sent): \(error)")
                connection = nil
            }
            report.longest = max(report.longest, Date().timeIntervalSince(started))
            // A pause between requests: each one costs a bash runtime a dozen processes, and the suites that run
            // meanwhile have function timeouts of a second or two.
            usleep(100_000)
        }
        return report
    }

    @Test func runtimesKilledAtRandomUnderLoadNeverLeaveARequestUnanswered() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TestFunctions.writeBash(
            in: dir, name: "fn", handler: #"sleep 0.3; printf '{"statusCode":200,"body":"%s"}' "$$""#)
        // Idle environments are not frozen here: the kernel holds a SIGKILL sent from outside to a frozen process
        // until it is thawed (the next invoke), and this test is about runtimes that die when they are killed.
        let config = try dir.write(
            "serve.yaml",
            """
            dataDirectory: ./data
            environments: {freezeIdle: false}
            functions:
              - {name: fn, runtime: provided.al2023, handler: h, code: ./fn, timeout: \(Self.timeout), maximumConcurrency: \(Self.concurrency)}
            targetGroups:
              - {name: fn-tg, function: fn}
            listeners:
              - port: 0
                defaultAction: {forward: fn-tg}
            """)
        let server = try await ServeProcess.start(configPath: config)
        defer { server.cleanUp() }
        let port = server.port
        #expect(ProcessTree.children(of: server.pid).isEmpty, "no runtime before the first request")

        // Clients and the killer on threads of their own, each timing itself from when it starts: on a loaded
        // machine the cooperative pool may start a task seconds late, and the window must not pass unused.
        let serverPID = server.pid
        let results = try await onThreads(Self.concurrency + 1) { index -> (ClientReport, [Int32]) in
            let end = Date().addingTimeInterval(8)
            guard index == Self.concurrency else {
                return (Self.client(port: port, name: "c\(index)", until: end), [])
            }
            // The killing stops a little before the clients do, so the last kills' answers are part of the load.
            var killed: [Int32] = []
            while Date() < end.addingTimeInterval(-1) {
                usleep(UInt32.random(in: 200_000...500_000))
                let running = ProcessTree.children(of: serverPID).filter { !ProcessTree.isGone($0) }
                if let victim = running.randomElement() {
                    kill(victim, SIGKILL)
                    killed.append(victim)
                }
            }
            return (ClientReport(), killed)
        }
        let reports = results.prefix(Self.concurrency).map(\.0)
        let killed = results.flatMap(\.1)
        let failures = reports.flatMap(\.failures)
        var statuses: [Int: Int] = [:]
        for report in reports { statuses.merge(report.statuses, uniquingKeysWith: +) }
        let longest = reports.map(\.longest).max() ?? 0
        #expect(killed.count >= 5, "runtimes were killed: \(killed.count)")
        #expect(failures.isEmpty, "every request got an answer: \(failures.prefix(5))")
        #expect(Set(statuses.keys).isSubset(of: [200, 502]), "only 200 and 502: \(statuses)")
        #expect((statuses[200] ?? 0) > 0 && (statuses[502] ?? 0) > 0, "the kills cut some invokes: \(statuses)")
        #expect(longest < Double(Self.timeout + 10), "none hung past the function timeout: \(longest) s")

        // Nothing of a killed runtime is left (its curl, blocked in /next or posting, ended with its group).
        for pid in killed {
            #expect(
                await eventually(seconds: 10) { ProcessTree.liveMembers(ofGroup: pid).isEmpty },
                "runtime \(pid)'s process group is gone: \(ProcessTree.liveMembers(ofGroup: pid))")
        }
        // Each killed runtime was reaped by the server (a zombie until then), so the environment has ended, or
        // is about to on its event loop, and its concurrency slot is free.
        #expect(await eventually(seconds: 10) { killed.allSatisfy { !ProcessTree.exists($0) } })
        try await Task.sleep(for: .milliseconds(300))

        // The pool recovered: the same load, no killing, every request succeeds.
        let after = try await onThreads(Self.concurrency) { index in
            Self.client(port: port, name: "after\(index)", count: 10)
        }
        #expect(after.flatMap(\.failures).isEmpty, "\(after.flatMap(\.failures).prefix(5))")
        #expect(after.map { $0.statuses[200] ?? 0 } == Array(repeating: 10, count: Self.concurrency), "\(after)")
        let live = ProcessTree.children(of: server.pid).filter { !ProcessTree.isGone($0) }
        #expect(live.count <= Self.concurrency, "one runtime per concurrency slot at most: \(live)")

        // The process tree after: every runtime that ever ran is gone with its group once the server stopped.
        let runtimes = Set(killed).union(reports.flatMap(\.runtimes)).union(after.flatMap(\.runtimes)).union(live)
        let outcome = await server.stop()
        #expect(outcome.exited && outcome.status == 0, "\(outcome.output.suffix(2000))")
        for pid in runtimes {
            #expect(
                await eventually(seconds: 10) { ProcessTree.liveMembers(ofGroup: pid).isEmpty },
                "runtime \(pid) left \(ProcessTree.liveMembers(ofGroup: pid))")
        }
    }
}
