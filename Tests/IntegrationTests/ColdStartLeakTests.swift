import AlbatrossTestKit
import Foundation
import Testing

/// Issue 12's robustness test: cold starts in a bounded loop leave nothing behind in the server. A real
/// `albatross serve` (a process of its own, so that the count is the server's and not the test runner's) serves
/// one bash function; each round retires its idle environment through the admin listener
/// (`POST /environments/retire-idle`, as `albatross bench --cold` does) and sends a request, which starts a new
/// environment: a new log stream every round proves each start was cold. Before and after the loop the test
/// takes a census of the server: open descriptors, threads (reaper threads among them), child processes and
/// zombies, the environments' control groups and the mounts its mount namespace sees. After the loop it must be
/// the same as before it.
@Suite(.serialized)
struct ColdStartLeakTests {
    /// What the server holds that a cold start could leak.
    struct Census: Equatable, CustomStringConvertible {
        var descriptors: Int
        var threads: Int
        var reaperThreads: Int
        /// Processes descended from the server that still run (its control-group guard among them).
        var descendants: Int
        var zombies: Int
        /// Directories of the server's control groups (its parents and the environments' groups in them).
        var controlGroups: Int
        var mounts: Int

        var description: String {
            "fds \(descriptors), threads \(threads) (reapers \(reaperThreads)), descendants \(descendants), "
                + "zombies \(zombies), control groups \(controlGroups), mounts \(mounts)"
        }

        static func take(of pid: Int32) -> Census {
            let fm = FileManager.default
            let tasks = (try? fm.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
            let reapers = tasks.filter {
                (try? String(contentsOfFile: "/proc/\(pid)/task/\($0)/comm", encoding: .utf8))?
                    .hasPrefix("albatross-reap") == true
            }
            let (descendants, zombies) = Self.descendants(of: pid)
            let mounts =
                (try? String(contentsOfFile: "/proc/\(pid)/mountinfo", encoding: .utf8))?
                .split(separator: "\n").count ?? -1
            return Census(
                descriptors: ((try? fm.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).count,
                threads: tasks.count, reaperThreads: reapers.count, descendants: descendants, zombies: zombies,
                controlGroups: controlGroupDirectories(of: pid), mounts: mounts)
        }

        /// The processes below `root` (``ProcessTree/children(of:)``, level by level): how many run, how many are
        /// zombies.
        static func descendants(of root: Int32) -> (running: Int, zombies: Int) {
            var running = 0
            var zombies = 0
            var level = ProcessTree.children(of: root)
            for _ in 0..<64 where !level.isEmpty {
                for pid in level {
                    if ProcessTree.stat(pid)?.state == "Z" { zombies += 1 } else { running += 1 }
                }
                level = level.flatMap { ProcessTree.children(of: $0) }
            }
            return (running, zombies)
        }

        /// Directories under `/sys/fs/cgroup` inside a group named for this server (`albatross-<pid>-...`).
        static func controlGroupDirectories(of pid: Int32) -> Int {
            let marker = "/albatross-\(pid)-"
            var count = 0
            func walk(_ directory: String, depth: Int) {
                guard depth < 8 else { return }
                for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
                    let path = "\(directory)/\(name)"
                    var info = stat()
                    guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { continue }
                    if path.contains(marker) { count += 1 }
                    walk(path, depth: depth + 1)
                }
            }
            walk("/sys/fs/cgroup", depth: 0)
            return count
        }
    }

    /// Runs `rounds` cold starts against a server in `isolation` mode and compares its census before and after.
    func coldStarts(_ rounds: Int, isolation: String) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TestFunctions.writeBash(
            in: dir, name: "fn", handler: #"printf '{"statusCode":200,"body":"%s"}' "$AWS_LAMBDA_LOG_STREAM_NAME""#)
        let configPath = try dir.write(
            "serve.yaml",
            """
            dataDirectory: ./data
            admin: {address: 127.0.0.1, port: 0}
            functions:
              - {name: fn, runtime: provided.al2023, handler: h, code: ./fn, timeout: 20}
            targetGroups:
              - {name: fn-tg, function: fn}
            listeners:
              - port: 0
                defaultAction: {forward: fn-tg}
            """)
        let server = try await ServeProcess.start(
            configPath: configPath, wrapper: ["/usr/bin/env", "ALBATROSS_ISOLATION=\(isolation)"])
        defer { server.cleanUp() }
        let adminPort = try #require(await server.adminPort(), "no admin listener announced: \(server.output)")
        if isolation == "sandbox" {
            #expect(server.output.contains("isolation: sandbox"), "\(server.output)")
        }
        let client = try RawHTTPClient(port: server.port, timeout: 40)
        var streams: Set<String> = []
        // The admin listener answers one request per connection.
        @discardableResult func retire() throws -> RawHTTPClient.Response {
            try RawHTTPClient(port: adminPort, timeout: 40).request(
                "POST", "/environments/retire-idle", body: Array(#"{"function":"fn"}"#.utf8))
        }
        func coldStart() throws {
            let retired = try retire()
            #expect(retired.status == 200, "\(retired.text)")
            let response = try client.request("GET", "/")
            #expect(response.status == 200, "\(response.text)\n\(server.output.suffix(2000))")
            streams.insert(response.text)
        }
        // The first starts make what lives as long as the server (threads of its pools, control-group parents).
        for _ in 0..<5 { try coldStart() }
        try retire()
        let before = await Self.settled(server.pid)
        let started = Date()
        for _ in 0..<rounds { try coldStart() }
        let seconds = Date().timeIntervalSince(started)
        try retire()
        let after = await Self.settled(server.pid, like: before)
        #expect(
            streams.count == rounds + 5, "a new environment every round: \(streams.count) in \(rounds + 5) rounds")
        // Threads: the server's pools start and end a thread of their own now and then; a leak would be one per
        // cold start.
        var same = after
        same.threads = before.threads
        #expect(
            same == before && abs(after.threads - before.threads) <= 2,
            "\(rounds) cold starts (\(isolation), \(Int(seconds)) s): before \(before), after \(after)")
        #expect(after.zombies == 0 && after.reaperThreads == 0, "\(after)")
        let outcome = await server.stop()
        #expect(outcome.exited && outcome.status == 0, "\(outcome.output.suffix(2000))")
    }

    /// The census once it equals `expected`, or once it has stopped changing with no reaper thread left (the last
    /// one exits just after its environment is gone); at most 10 s.
    static func settled(_ pid: Int32, like expected: Census? = nil) async -> Census {
        var last = Census.take(of: pid)
        for _ in 0..<100 {
            try? await Task.sleep(for: .milliseconds(100))
            let now = Census.take(of: pid)
            if now == expected || (now == last && now.reaperThreads == 0) { return now }
            last = now
        }
        return last
    }

    @Test func aThousandColdStartsLeaveNothingBehind() async throws {
        try await coldStarts(1000, isolation: "process")
    }

    /// Sandboxes add a bwrap process, its namespaces and mounts, and a joiner per process.
    @Test(.enabled(if: SandboxExtensionsTests.sandboxWorks)) func sandboxedColdStartsLeaveNothingBehind() async throws {
        try await coldStarts(200, isolation: "sandbox")
    }
}
