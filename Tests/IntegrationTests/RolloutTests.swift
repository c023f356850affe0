import AlbatrossTestKit
import Foundation
import InvocationModel
import LambdaModel
import NIOConcurrencyHelpers
import NIOCore
import Registry
import Rollout
import Testing

/// Rollouts end to end: a real server with real bash functions, the runner moving the alias through the registry,
/// traffic through the ALB listener, alarms from the event stream, hooks invoked for real, and the CLI.
@Suite(.serialized)
struct RolloutTests {
    static let yaml = """
        dataDirectory: ./data
        admin: {port: 0}
        loadBalancer:
          attributes:
            albatross.executed_version_header: X-Executed-Version
        functions:
          - name: shop
            runtime: provided.al2023
            handler: h
            code: ./good
            versions:
              - {version: 1, code: ./good}
              - {version: 2, code: ./good2}
              - {version: 3, code: ./flaky}
            aliases:
              - {name: live, version: "1"}
          - {name: CodeDeployHook_fail, runtime: provided.al2023, handler: h, code: ./hookfail}
          - {name: CodeDeployHook_ok, runtime: provided.al2023, handler: h, code: ./hookok}
          - {name: CodeDeployHook_slow, runtime: provided.al2023, handler: h, code: ./hookslow, timeout: 20}
        targetGroups:
          - {name: live, function: "shop:live"}
        listeners:
          - port: 0
            defaultAction: {forward: live}
        """

    static func start(in dir: TemporaryDirectory) async throws -> (ServerHarness, Int) {
        try TestFunctions.writeBash(in: dir, name: "good", handler: TestFunctions.albResponse(body: "ok"))
        try TestFunctions.writeBash(in: dir, name: "good2", handler: TestFunctions.albResponse(body: "ok 2"))
        // Version 3 fails one invoke in five (a function error reported to the Runtime API) and answers the rest.
        _ = try dir.write("flaky/bootstrap", Self.flakyBootstrap, executable: true)
        // Fails after a second, so that traffic flows while the PreTraffic hook runs.
        try TestFunctions.writeBash(in: dir, name: "hookfail", handler: #"sleep 1; printf '{"status":"Failed"}'"#)
        try TestFunctions.writeBash(in: dir, name: "hookok", handler: #"printf '{"status":"Succeeded"}'"#)
        // Succeeds, but only after 3 s.
        try TestFunctions.writeBash(in: dir, name: "hookslow", handler: #"sleep 3; printf '{"status":"Succeeded"}'"#)
        let server = try await ServerHarness(yaml: Self.yaml, baseDirectory: dir.path)
        let deadline = Date().addingTimeInterval(30)
        while server.application.admin?.port == nil && Date() < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        return (server, try #require(server.application.admin?.port))
    }

    /// A `provided.al2023` runtime whose every fifth invoke (counted per execution environment, so the rate holds
    /// however many environments serve the version) is a function error posted to `/invocation/<id>/error`, the
    /// others an ALB answer: a version failing 20 % of its requests without ever crashing.
    static let flakyBootstrap = #"""
        #!/bin/bash
        set -uo pipefail
        API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
        COUNT=0
        while true; do
          HEADERS="$(mktemp)"
          curl -sS -D "$HEADERS" -o /dev/null "$API/invocation/next" || exit 1
          REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
          rm -f "$HEADERS"
          COUNT=$((COUNT + 1))
          if (( COUNT % 5 == 0 )); then
            curl -sS -o /dev/null -H 'Content-Type: application/json' -H 'Lambda-Runtime-Function-Error-Type: Unhandled'               --data-binary '{"errorMessage":"every fifth request fails","errorType":"Flaky"}'               "$API/invocation/$REQUEST_ID/error"
          else
            curl -sS -o /dev/null -H 'Content-Type: application/json'               --data-binary '{"statusCode":200,"headers":{"content-type":"text/plain"},"body":"ok 3"}'               "$API/invocation/$REQUEST_ID/response"
          fi
        done
        """#

    /// Sends requests to the listener on `connections` connections until `done` says stop (at most `limit` each);
    /// returns the executed versions and their status codes (`"3 502"`). `failures` collects the wall-clock time
    /// of every 5xx answer.
    static func drive(
        _ server: ServerHarness, connections: Int = 1, limit: Int = 2000, pause: UInt32 = 5000,
        failures: NIOLockedValueBox<[Double]>? = nil, until done: @escaping @Sendable () -> Bool
    )
        async throws -> [String: Int]
    {
        let port = server.port
        // On threads of their own: a blocking loop on the cooperative pool (Task.detached is on it too) starved the
        // rollout runner, an async service, of the thread it needs to shift weights and evaluate alarms.
        let each = try await onThreads(connections) { _ in
            let client = try RawHTTPClient(port: port, timeout: 10)
            var seen: [String: Int] = [:]
            for _ in 0..<limit where !done() {
                let response = try client.request("GET", "/")
                if response.status >= 500 { failures?.withLockedValue { $0.append(Date().timeIntervalSince1970) } }
                seen[response.header("X-Executed-Version") ?? "?", default: 0] += 1
                seen["\(response.header("X-Executed-Version") ?? "?") \(response.status)", default: 0] += 1
                if pause > 0 { usleep(pause) }
            }
            return seen
        }
        return each.reduce(into: [:]) { total, seen in total.merge(seen, uniquingKeysWith: +) }
    }

    static func wait(_ runner: RolloutRunner, _ id: String, timeout: Double = 60) async throws -> RolloutRecord {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let record = runner.record(id), record.ended { return record }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("rollout \(id) did not end within \(timeout) s")
        return try #require(runner.record(id))
    }

    @Test func aCanaryThroughTheCLISucceedsAndTheAliasEndsOnTheNewVersion() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (server, admin) = try await Self.start(in: dir)
        // Version 2 warm before traffic reaches it (as a PreTraffic test would leave it), so that a slow cold start
        // on a loaded machine does not starve the alarm of data.
        _ = try await server.application.invoke(
            InvokeRequest(functionName: "shop", qualifier: "2", payload: ByteBuffer(string: "{}")))
        // 5 configured minutes at 100×: 3 s at 10 %, then 100 %; the alarm needs a request of version 2 per 6 s.
        let result = try await AlbatrossCommand.run(
            [
                "rollout", "shop", "--alias", "live", "--to", "2", "--config",
                "CodeDeployDefault.LambdaCanary10Percent5Minutes", "--time-scale", "100", "--alarm",
                "errors>50%/10m/min1", "--post-hook", "CodeDeployHook_ok", "--drive",
                "http://127.0.0.1:\(server.port)/",
                "--rate", "40", "--admin", "127.0.0.1:\(admin)", "--report", dir.url("report.html"),
            ], timeout: 90)
        let records = server.application.rollouts!.records()
        let id = try #require(records.first?.id)
        let svg = try await AlbatrossCommand.run(
            ["rollout", "status", id, "--report", dir.url("report.svg"), "--admin", "127.0.0.1:\(admin)"])
        let json = try await AlbatrossCommand.run(
            ["rollout", "status", id, "--report", dir.url("report.json"), "--admin", "127.0.0.1:\(admin)"])
        let alias = try server.registry.alias(functionName: "shop", name: "live")
        await server.shutdown()
        #expect(result.status == 0, "\(result)")
        #expect(svg.status == 0 && json.status == 0, "\(svg) \(json)")
        #expect(result.stdout.contains("Succeeded"), "\(result)")
        #expect(result.stdout.contains("v2: "), "progress lines show the new version's counts: \(result)")
        // Live: during the 3 s canary the piped follower printed the step's counts as they grew (a line a second),
        // each version with its requests, share, errors and p99.
        let canaryLines = result.stdout.split(separator: "\n").filter { $0.contains("AllowTraffic  step 1/2  10 %") }
        let growing = canaryLines.compactMap { line in
            line.firstMatch(of: #/v1: (\d+) req \((?:\d+\.\d %|-)\) \d+ err \(.*?\) p99 /#).map { Int($0.1)! }
        }
        #expect(growing.count >= 2 && growing.last! > growing.first!, "live counts: \(canaryLines)")
        #expect(
            canaryLines.contains { $0.contains(#/v2: \d+ req \(\d+\.\d %\) \d+ err \(\d+\.\d %\) p99 \d+\.\d ms/#) },
            "\(canaryLines)")
        #expect(alias.routing == AliasRouting(primaryVersion: "2"), "the alias names version 2 alone")
        let record = try #require(records.first)
        #expect(record.machine.status == .succeeded && record.machine.hooks["AfterAllowTraffic"] == .succeeded)
        #expect(record.steps.map(\.percent) == [10, 100])
        #expect((record.steps.first?.versions["2"]?.requests ?? 0) >= 1, "\(record.steps)")
        let report = try String(contentsOfFile: dir.url("report.json"), encoding: .utf8)
        #expect(report.contains("\"Succeeded\""))
        // The HTML and SVG reports: well-formed, self-contained, and the SVG draws.
        let html = try String(contentsOfFile: dir.url("report.html"), encoding: .utf8)
        #expect(html.contains("<svg") && html.contains("Succeeded") && !html.contains("<script"))
        #expect(!html.contains("http://") && !html.contains("https://"), "nothing from outside")
        let picture = try String(contentsOfFile: dir.url("report.svg"), encoding: .utf8)
        #expect(picture.contains("version 2 (target)") && picture.contains("10 %"))
        #expect(picture.components(separatedBy: "<polyline").count >= 6, "share, rate and error series")
        for file in ["report.html", "report.svg"] {
            let lint = try await AlbatrossCommand.run(executable: "/usr/bin/xmllint", ["--noout", dir.url(file)])
            #expect(lint.status == 0, "\(file): \(lint)")
        }
        let render = try await AlbatrossCommand.run(
            executable: "/usr/bin/rsvg-convert", ["-o", dir.url("report.png"), dir.url("report.svg")])
        #expect(render.status == 0, "\(render)")
        let png = try #require(FileManager.default.contents(atPath: dir.url("report.png")))
        #expect(png.count > 5000 && png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "a PNG with content")
        // Persisted in the data directory.
        #expect(FileManager.default.fileExists(atPath: dir.url("data/rollouts/\(record.id).json")))
    }

    /// Issue 13's first test: a version failing 20 % of its requests (not all of them) trips the error alarm and
    /// is rolled back within one evaluation period of the alarm (5 s: a minute at 12×) after its first failed
    /// request, during the canary step, with the alias restored exactly.
    @Test func aVersionFailingOneRequestInFiveIsRolledBackWithinOneEvaluationPeriod() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (server, _) = try await Self.start(in: dir)
        let runner = try #require(server.application.rollouts)
        let before = try server.registry.alias(functionName: "shop", name: "live")
        // Traffic first, so that the canary carries requests from its first moment: three connections. Each
        // environment of version 3 fails its fifth request: the first failure comes with the fifth request, when
        // the alarm's minimum is met.
        let stop = NIOLockedValueBox(false)
        let failures = NIOLockedValueBox<[Double]>([])
        async let seen = Self.drive(server, connections: 3, limit: 5000, pause: 2000, failures: failures) {
            stop.withLockedValue { $0 }
        }
        try await Task.sleep(for: .milliseconds(300))
        // A 20 % canary for 5 minutes, 25 s at 12× (20 % rather than 10 %: enough requests of version 3 to judge
        // however loaded the machine is); the alarm judges version 3 over the last 5 s once it served 5 requests.
        let period = 60.0 / 12
        let started = try await runner.start(
            RolloutRequest(
                function: "shop", alias: "live", to: "3", config: "TimeBasedCanary:20:5", timeScale: 12,
                alarms: ["errors>5%/1m/min5"]))
        // A second rollout of the same alias conflicts.
        await #expect(throws: RolloutError.self) {
            _ = try await runner.start(
                RolloutRequest(function: "shop", alias: "live", to: "2", config: "LambdaAllAtOnce"))
        }
        let id = started.id
        let record = try await Self.wait(runner, id, timeout: 60)
        stop.withLockedValue { $0 = true }
        let versions = try await seen
        let after = try server.registry.alias(functionName: "shop", name: "live")
        await server.shutdown()
        #expect(record.machine.status == .stopped && record.machine.errorCode == "ALARM_ACTIVE", "\(record.json())")
        #expect(record.machine.rolledBack)
        #expect(record.steps.map(\.percent) == [20], "tripped during the canary step, before 100 %")
        #expect(after.routing == before.routing, "restored exactly: \(after.routing)")
        // Within one evaluation period of the first failed request (plus the runner's poll, under a second).
        let canary = try #require(record.steps.first)
        let endedAt = try #require(record.machine.endedAt)
        let firstFailure = try #require(failures.withLockedValue { $0.min() })
        #expect(firstFailure >= canary.startedAt, "no failure before the shift")
        #expect(
            endedAt - firstFailure <= period + 1,
            "rolled back \(endedAt - firstFailure) s after the first failure, \(endedAt - canary.startedAt) s after the shift; the period is \(period) s: \(record.json())"
        )
        // The alarm saw about a fifth of version 3's invokes fail, not all of them.
        let tripped = try #require(record.evaluations.last { $0.state == .alarm }, "\(record.evaluations)")
        let rate = try #require(tripped.value)
        #expect(tripped.requests >= 5 && rate > 5 && rate <= 50, "\(tripped)")
        let three = try #require(canary.versions["3"])
        #expect(three.invocations >= 5 && three.errors >= 1 && three.errors * 2 <= three.invocations, "\(three)")
        #expect(canary.versions["1"]?.errors == 0)
        // Through the listener: version 3 answered most requests it got, the failed ones were 502s.
        let failed = versions.filter { $0.key.hasSuffix(" 502") }.values.reduce(0, +)
        #expect((versions["3 200"] ?? 0) >= 1 && failed >= 1, "\(versions)")
        #expect((versions["1"] ?? 0) > (versions["3"] ?? 0), "\(versions)")
        // The SVG report marks the alarm in red.
        let picture = RolloutReport.svg(record)
        #expect(picture.contains("fill=\"#d62728\"><title>ALARM"), "the ALARM span")
    }

    @Test func aFailingPreTrafficHookRollsBackBeforeAnyTrafficMoves() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (server, admin) = try await Self.start(in: dir)
        let before = try server.registry.alias(functionName: "shop", name: "live")
        // Traffic through the listener all along: the hook takes a second to fail, and none of it reaches version 2.
        let stop = NIOLockedValueBox(false)
        async let seen = Self.drive(server) { stop.withLockedValue { $0 } }
        let result = try await AlbatrossCommand.run(
            [
                "rollout", "shop", "--to", "2", "--config", "LambdaLinear10PercentEvery1Minute", "--time-scale", "60",
                "--pre-hook", "CodeDeployHook_fail", "--admin", "127.0.0.1:\(admin)",
            ], timeout: 90)
        // A little more traffic after the end, in case a shift had been written late.
        try await Task.sleep(for: .milliseconds(300))
        stop.withLockedValue { $0 = true }
        let versions = try await seen
        let alias = try server.registry.alias(functionName: "shop", name: "live")
        let record = try #require(server.application.rollouts?.records().first)
        let status = try await AlbatrossCommand.run(["rollout", "status", record.id, "--admin", "127.0.0.1:\(admin)"])
        await server.shutdown()
        #expect(result.status != 0, "\(result)")
        #expect(result.stdout.contains("HOOK_EXECUTION_FAILURE"), "\(result)")
        #expect(record.machine.status == .failed && record.machine.hooks["BeforeAllowTraffic"] == .failed)
        #expect(record.steps.isEmpty && record.machine.history.allSatisfy { ($0.percent ?? 0) == 0 })
        #expect(alias.routing == AliasRouting(primaryVersion: "1"))
        #expect(alias.revisionId == before.revisionId, "the alias was never written: no shift, no rollback write")
        #expect((versions["1"] ?? 0) >= 5 && versions["2"] == nil, "no request reached version 2: \(versions)")
        #expect(record.hookExecutionIds["BeforeAllowTraffic"] != nil)
        #expect(
            status.status == 0 && status.stdout.contains(record.id) && status.stdout.contains("Failed"), "\(status)")
    }

    /// CodeDeploy fails a lifecycle event that has no verdict an hour after the hook was invoked; the deadline is
    /// configurable, and a verdict that comes after it changes nothing.
    @Test func aHookWithoutAVerdictByTheHookDeadlineFailsTheRollout() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (server, admin) = try await Self.start(in: dir)
        let result = try await AlbatrossCommand.run(
            [
                "rollout", "shop", "--to", "2", "--config", "LambdaAllAtOnce", "--pre-hook", "CodeDeployHook_slow",
                "--hook-timeout", "1.5", "--admin", "127.0.0.1:\(admin)",
            ], timeout: 60)
        let record = try #require(server.application.rollouts?.records().first)
        // The hook's own success, 3 s after it was invoked, arrives after the rollout ended.
        try await Task.sleep(for: .seconds(2))
        let later = try #require(server.application.rollouts?.record(record.id))
        let alias = try server.registry.alias(functionName: "shop", name: "live")
        let refused = try await AlbatrossCommand.run(
            [
                "rollout", "shop", "--to", "2", "--config", "LambdaAllAtOnce", "--hook-timeout", "3601", "--admin",
                "127.0.0.1:\(admin)",
            ])
        await server.shutdown()
        #expect(result.status == 2 && result.stdout.contains("hook deadline of 1.5 s"), "\(result)")
        #expect(record.machine.status == .failed && record.machine.errorCode == "HOOK_EXECUTION_FAILURE")
        #expect(record.machine.spec.hookTimeoutSeconds == 1.5)
        let took = (record.machine.endedAt ?? 0) - record.machine.createdAt
        #expect(took >= 1.5 && took < 3, "failed at the deadline, not when the hook returned: \(took) s")
        #expect(later.machine.hooks["BeforeAllowTraffic"] == .failed && later.machine.status == .failed)
        #expect(alias.routing == AliasRouting(primaryVersion: "1"))
        #expect(refused.status != 0 && refused.stderr.contains("--hook-timeout"), "\(refused)")
    }

    @Test func stopRollsBackAndUnfinishedRolloutsAreRolledBackOnRestart() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (server, admin) = try await Self.start(in: dir)
        let runner = try #require(server.application.rollouts)
        // An alias made through the store, not declared in the YAML (which is applied again at every start).
        try server.registry.createAlias(functionName: "shop", name: "beta", routing: AliasRouting(primaryVersion: "1"))
        let started = try await runner.start(
            RolloutRequest(function: "shop", alias: "beta", to: "2", config: "LambdaCanary10Percent30Minutes"))
        // Wait for the first shift, then stop through the CLI.
        let deadline = Date().addingTimeInterval(10)
        while try server.registry.alias(functionName: "shop", name: "beta").routing.additionalWeight != 0.1,
            Date() < deadline
        {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try server.registry.alias(functionName: "shop", name: "beta").routing.additionalWeight == 0.1)
        let stop = try await AlbatrossCommand.run(["rollout", "stop", started.id, "--admin", "127.0.0.1:\(admin)"])
        #expect(stop.status == 0, "\(stop)")
        let stopped = try await Self.wait(runner, started.id)
        #expect(stopped.machine.status == .stopped && stopped.machine.errorCode == "MANUAL_STOP")
        #expect(
            try server.registry.alias(functionName: "shop", name: "beta").routing == AliasRouting(primaryVersion: "1"))

        // A record left InProgress (as kill -9 leaves it) with the alias half-way is rolled back at the next start.
        let second = try await runner.start(
            RolloutRequest(function: "shop", alias: "beta", to: "2", config: "LambdaCanary10Percent30Minutes"))
        while try server.registry.alias(functionName: "shop", name: "beta").routing.additionalWeight != 0.1,
            Date() < deadline.addingTimeInterval(10)
        {
            try await Task.sleep(for: .milliseconds(20))
        }
        let halfWay = try #require(
            FileManager.default.contents(atPath: dir.url("data/rollouts/\(second.id).json")))
        let account = server.configuration.account
        await server.shutdown()
        // The graceful shutdown rolled it back; put back the file and alias a killed server leaves.
        try halfWay.write(to: URL(fileURLWithPath: dir.url("data/rollouts/\(second.id).json")))
        let registry = try Registry(dataDirectory: dir.url("data"), account: account)
        try registry.updateAlias(
            functionName: "shop", name: "beta",
            routing: AliasRouting(primaryVersion: "1", additionalVersion: "2", additionalWeight: 0.1))
        let (again, _) = try await Self.start(in: dir)
        let recoveredBy = Date().addingTimeInterval(10)
        while again.application.rollouts?.record(second.id) == nil && Date() < recoveredBy {
            try await Task.sleep(for: .milliseconds(20))
        }
        let recovered = try #require(again.application.rollouts?.record(second.id))
        let alias = try again.registry.alias(functionName: "shop", name: "beta")
        await again.shutdown()
        #expect(recovered.machine.status == .failed && recovered.machine.errorCode == "SERVER_RESTART")
        #expect(recovered.machine.rolledBack)
        #expect(alias.routing == AliasRouting(primaryVersion: "1"))
    }
}
