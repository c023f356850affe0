import AlbatrossTestKit
import Foundation
import Testing

/// The 10 s cap on INIT through a real `albatross serve` (docs/architecture.md, "Execution environments"): past
/// it, the runtime is stopped and INIT runs again inside the first invoke, under the function timeout, and the
/// REPORT line has no `Init Duration` (AWS's suppressed init). Slow by nature (10-12 s), so one test with both
/// outcomes at once.
struct ServeInitCapTests {
    @Test func initOverTenSecondsRunsAgainInsideTheInvokeUnderTheFunctionTimeout() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // Prints how many ms the Runtime API's deadline leaves when the handler runs.
        let remaining = #"""
            DEADLINE=$(printf '%s' "$NEXT_HEADERS" | grep -Fi Lambda-Runtime-Deadline-Ms | tr -d '[:space:]' | cut -d: -f2)
            printf '{"statusCode":200,"body":"remaining=%s pid=%s"}' "$((DEADLINE - $(date +%s%3N)))" "$$"
            """#
        // The first INIT would take 11 s; its re-run takes 1 s of the 5 s timeout.
        let mark = dir.url("late.mark")
        try TestFunctions.writeBash(
            in: dir, name: "late", handler: remaining,
            initScript: #"if [ ! -e "\#(mark)" ]; then touch "\#(mark)"; sleep 11; else sleep 1; fi"#)
        // INIT would take 60 s: it runs out of its 10 s, then its re-run out of the 2 s timeout.
        try TestFunctions.writeBash(
            in: dir, name: "stuck", handler: remaining, initScript: #"echo "init pid=$$"; sleep 60"#)
        let config = try dir.write(
            "serve.yaml",
            """
            dataDirectory: ./data
            functions:
              - {name: late, runtime: provided.al2023, handler: h, code: ./late, timeout: 5}
              - {name: stuck, runtime: provided.al2023, handler: h, code: ./stuck, timeout: 2}
            targetGroups:
              - {name: late-tg, function: late}
              - {name: stuck-tg, function: stuck}
            listeners:
              - port: 0
                defaultAction: {forward: late-tg}
                rules:
                  - {priority: 1, conditions: [{pathPattern: ["/stuck"]}], action: {forward: stuck-tg}}
            """)
        let server = try await ServeProcess.start(configPath: config, arguments: ["--quiet"])
        defer { server.cleanUp() }
        let port = server.port
        let started = Date()
        let responses = try await onThreads(2) { index in
            try RawHTTPClient(port: port, timeout: 40).request("GET", index == 0 ? "/late" : "/stuck")
        }
        let elapsed = Date().timeIntervalSince(started)
        let (late, stuck) = (responses[0], responses[1])

        // The re-run finished in 1 s: the first invoke ran with what was left of its 5 s timeout.
        #expect(late.status == 200, "\(late.text)")
        let left = try #require(late.text.firstMatch(of: #/remaining=(-?\d+) /#).flatMap { Int($0.1) }, "\(late.text)")
        #expect(left <= 4100, "the re-run's second was taken from the 5 s timeout: \(left) ms left")
        #expect(left > 2000, "\(left) ms left")
        // The next invoke of the same environment gets the whole timeout again.
        let warm = try RawHTTPClient(port: port, timeout: 20).request("GET", "/late")
        #expect(warm.status == 200, "\(warm.text)")
        let warmLeft = try #require(warm.text.firstMatch(of: #/remaining=(-?\d+) /#).flatMap { Int($0.1) })
        #expect(warmLeft > 4000 && warmLeft <= 5000, "the warm invoke has the full 5 s: \(warmLeft) ms left")
        #expect(late.text.firstMatch(of: #/pid=\d+/#)?.0 == warm.text.firstMatch(of: #/pid=\d+/#)?.0)

        // The stuck INIT ran out of 10 s, its re-run out of the 2 s timeout: a timeout, as a 502 to the client.
        #expect(stuck.status == 502, "\(stuck.text)")
        #expect(elapsed >= 11 && elapsed < 30, "both answered after INIT's cap, not after 60 s: \(elapsed) s")

        // REPORT lines are written by the log writer thread, shortly after the response.
        #expect(await eventually(seconds: 10) { Self.reports(in: dir.url("data/aws/lambda/late")).count == 2 })
        let lateLog = Self.logLines(in: dir.url("data/aws/lambda/late"))
        let lateReports = Self.reports(in: dir.url("data/aws/lambda/late"))
        #expect(lateReports.count == 2, "\(lateLog)")
        #expect(lateReports.allSatisfy { !$0.contains("Init Duration") }, "suppressed init: \(lateReports)")
        #expect(lateReports.allSatisfy { !$0.contains("Status: ") }, "\(lateReports)")
        #expect(lateLog.filter { $0.contains("INIT_START Runtime Version: ") }.count == 2, "\(lateLog)")
        #expect(
            lateLog.contains {
                $0.contains("INIT_REPORT Init Duration: ") && $0.hasSuffix("\tPhase: init\tStatus: timeout")
            })

        #expect(await eventually(seconds: 10) { Self.reports(in: dir.url("data/aws/lambda/stuck")).count == 1 })
        let stuckLog = Self.logLines(in: dir.url("data/aws/lambda/stuck"))
        let stuckReport = try #require(stuckLog.first { $0.contains("REPORT RequestId: ") }, "\(stuckLog)")
        #expect(!stuckReport.contains("Init Duration"), "\(stuckReport)")
        #expect(stuckReport.contains("\tDuration: 2000.00 ms\tBilled Duration: 2000 ms\t"), "\(stuckReport)")
        #expect(stuckReport.hasSuffix("\tStatus: timeout\t"), "\(stuckReport)")
        #expect(stuckLog.contains { $0.hasSuffix(" Task timed out after 2.00 seconds") }, "\(stuckLog)")
        #expect(stuckLog.contains { $0.hasSuffix("\tPhase: invoke\tStatus: timeout") }, "\(stuckLog)")
        // The runtimes stuck in INIT were killed, not left sleeping.
        let initPids = stuckLog.compactMap { $0.firstMatch(of: #/init pid=(\d+)/#).flatMap { Int32($0.1) } }
        #expect(initPids.count == 2, "the first INIT and its re-run: \(stuckLog)")
        for initPid in initPids {
            #expect(await eventually(seconds: 10) { !ProcessTree.exists(initPid) }, "runtime \(initPid) is gone")
        }

        let stopped = await server.stop()
        #expect(stopped.exited && stopped.status == 0, "\(stopped.output)")
    }

    static func reports(in group: String) -> [String] {
        logLines(in: group).filter { $0.contains(" REPORT RequestId: ") }
    }

    /// Every line of every log stream of one function (without the timestamp prefix).
    static func logLines(in group: String) -> [String] {
        guard let files = FileManager.default.enumerator(atPath: group) else { return [] }
        var lines: [String] = []
        for case let file as String in files {
            let text = (try? String(contentsOfFile: "\(group)/\(file)", encoding: .utf8)) ?? ""
            lines += text.split(separator: "\n").map(String.init)
        }
        return lines
    }
}
