import AlbatrossTestKit
import Foundation
import Testing

/// A server killed with SIGKILL (issue 8, item 7): its runtimes die with it (parent-death signal), and the next
/// server on the same data directory kills what they had started in their process groups.
@Suite(.serialized)
struct ServerDeathTests {
    static func isGone(_ pid: Int32) -> Bool { ProcessTree.isGone(pid) }
    static func stat(_ pid: Int32) -> (state: Character, group: Int32)? { ProcessTree.stat(pid) }

    static func config() -> String {
        """
        dataDirectory: ./data
        functions:
          - {name: fn, runtime: provided.al2023, handler: h, code: ./fn, timeout: 30, maximumConcurrency: 4}
        targetGroups:
          - {name: fn-tg, function: fn}
        listeners:
          - port: 0
            defaultAction: {forward: fn-tg}
        """
    }

    @Test func killingTheServerEndsItsRuntimesAndTheNextServerEndsWhatTheyLeft() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let sleepers = dir.url("sleepers")
        // `/leave` leaves a `sleep 600` in the runtime's process group and answers with the runtime's pid. `/hold`
        // waits for a `sleep 600` of its own: a runtime busy in its handler, which (unlike one blocked in /next)
        // would not notice on its own that the server is gone.
        let handler = """
            sleep 600 </dev/null >/dev/null 2>&1 &
            echo "$$ $!" >> '\(sleepers)'
            case "$1" in *'"path":"/hold"'*) wait $! ;; esac
            printf '{"statusCode":200,"body":"%s"}' "$$"
            """
        try TestFunctions.writeBash(in: dir, name: "fn", handler: handler)
        let configPath = try dir.write("serve.yaml", Self.config())
        let server = try await ServeProcess.start(configPath: configPath)
        defer { server.cleanUp() }
        var leftBehind: [Int32] = []
        defer { for pid in leftBehind where !Self.isGone(pid) { kill(pid, SIGKILL) } }
        /// (runtime, its sleep), in the order the handlers ran.
        func started() -> [(runtime: Int32, sleep: Int32)] {
            let text = (try? String(contentsOfFile: sleepers, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap { line in
                let parts = line.split(separator: " ").compactMap { Int32($0) }
                return parts.count == 2 ? (parts[0], parts[1]) : nil
            }
        }

        let port = server.port
        // Answered only by the server's death (the connection closes): not awaited until then.
        let holding = Task { try? await offPool { try RawHTTPClient(port: port, timeout: 60).request("GET", "/hold") } }
        #expect(await eventually(seconds: 20) { started().count == 1 }, "the /hold invoke is running")
        let body = try await offPool { try RawHTTPClient(port: port).request("GET", "/leave").text }
        let pairs = started()
        leftBehind = pairs.map(\.sleep)
        try #require(pairs.count == 2, "two environments: \(pairs)")
        let (holder, leaver) = (pairs[0], pairs[1])
        #expect(body == "\(leaver.runtime)" && holder.runtime != leaver.runtime)
        let children = Set(ProcessTree.children(of: server.pid))
        #expect(children.isSuperset(of: [holder.runtime, leaver.runtime]), "the runtimes are the server's children")
        for pair in pairs {
            #expect(Self.stat(pair.sleep)?.group == pair.runtime, "each sleep is in its runtime's process group")
        }
        let records = try FileManager.default.contentsOfDirectory(atPath: dir.url("data/run"))
        #expect(Set(records) == ["\(holder.runtime)", "\(leaver.runtime)"], "one record per running runtime")

        kill(server.pid, SIGKILL)
        #expect(await server.child.waitForExit(timeout: 10) != nil)
        _ = await holding.value
        // The parent-death signal: each runtime is killed by the kernel when the server is gone, the one waiting
        // in its handler too.
        for pair in pairs {
            #expect(
                await eventually(seconds: 10) { Self.isGone(pair.runtime) },
                "runtime \(pair.runtime) died with the server")
        }
        // It reaches the runtimes only: the sleeps they started are still there, for the next server to end.
        #expect(pairs.allSatisfy { !Self.isGone($0.sleep) }, "the runtimes' children outlived them")

        let restarted = try await ServeProcess.start(configPath: configPath)
        defer { restarted.cleanUp() }
        for pair in pairs {
            #expect(
                await eventually(seconds: 10) { Self.isGone(pair.sleep) }, "the restarted server killed \(pair.sleep)")
            #expect(
                restarted.output.contains(
                    "killed process group \(pair.runtime) left by a previous run (pids \(pair.sleep))"),
                "\(restarted.output)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.url("data/run")).isEmpty)

        // The restarted server works, and its own records go when it stops gracefully.
        let answer = try await offPool { try RawHTTPClient(port: restarted.port).request("GET", "/plain").text }
        let pid = try #require(Int32(answer))
        leftBehind += started().map(\.sleep)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.url("data/run")) == ["\(pid)"])
        let outcome = await restarted.stop()
        #expect(outcome.exited && outcome.status == 0, "\(outcome.output)")
        #expect(await eventually(seconds: 5) { ProcessTree.liveMembers(ofGroup: pid).isEmpty })
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.url("data/run")).isEmpty)
    }
}
