import AlbatrossTestKit
import Foundation
import InvocationModel
import LambdaModel
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
              - {version: 3, code: ./bad}
            aliases:
              - {name: live, version: "1"}
          - {name: CodeDeployHook_fail, runtime: provided.al2023, handler: h, code: ./hookfail}
          - {name: CodeDeployHook_ok, runtime: provided.al2023, handler: h, code: ./hookok}
        targetGroups:
          - {name: live, function: "shop:live"}
        listeners:
          - port: 0
            defaultAction: {forward: live}
        """

    static func start(in dir: TemporaryDirectory) async throws -> (ServerHarness, Int) {
        try TestFunctions.writeBash(in: dir, name: "good", handler: TestFunctions.albResponse(body: "ok"))
        try TestFunctions.writeBash(in: dir, name: "good2", handler: TestFunctions.albResponse(body: "ok 2"))
        // Every invoke of version 3 crashes its runtime (a function error: Runtime.ExitError).
        try TestFunctions.writeBash(in: dir, name: "bad", handler: "exit 3")
        try TestFunctions.writeBash(in: dir, name: "hookfail", handler: #"printf '{"status":"Failed"}'"#)
        try TestFunctions.writeBash(in: dir, name: "hookok", handler: #"printf '{"status":"Succeeded"}'"#)
        let server = try await ServerHarness(yaml: Self.yaml, baseDirectory: dir.path)
        let deadline = Date().addingTimeInterval(30)
        while server.application.admin?.port == nil && Date() < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        return (server, try #require(server.application.admin?.port))
    }

    /// Sends requests to the listener until `done` says stop (at most `limit`); returns the executed versions.
    static func drive(
        _ server: ServerHarness, limit: Int = 2000, until done: @escaping @Sendable () -> Bool
    )
        async throws -> [String: Int]
    {
        let port = server.port
        // On a thread of its own: a blocking loop on the cooperative pool (Task.detached is on it too) starved the
        // rollout runner, an async service, of the thread it needs to shift weights and evaluate alarms.
        return try await offPool {
            let client = try RawHTTPClient(port: port, timeout: 10)
            var seen: [String: Int] = [:]
            for _ in 0..<limit where !done() {
                let response = try client.request("GET", "/")
                seen[response.header("X-Executed-Version") ?? "?", default: 0] += 1
                usleep(5000)
            }
            return seen
        }
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

    @Test func aVersionThatFailsEveryInvokeTripsTheErrorAlarmAndTheAliasIsRestored() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (server, _) = try await Self.start(in: dir)
        let runner = try #require(server.application.rollouts)
        let before = try server.registry.alias(functionName: "shop", name: "live")
        let started = try await runner.start(
            RolloutRequest(
                function: "shop", alias: "live", to: "3", config: "LambdaCanary10Percent5Minutes", timeScale: 30,
                alarms: ["errors>5%/1m/min2"]))
        // A second rollout of the same alias conflicts.
        await #expect(throws: RolloutError.self) {
            _ = try await runner.start(
                RolloutRequest(function: "shop", alias: "live", to: "2", config: "LambdaAllAtOnce"))
        }
        let id = started.id
        async let seen = Self.drive(server) { runner.record(id)?.ended ?? true }
        let record = try await Self.wait(runner, id)
        let versions = try await seen
        let after = try server.registry.alias(functionName: "shop", name: "live")
        await server.shutdown()
        #expect(record.machine.status == .stopped && record.machine.errorCode == "ALARM_ACTIVE", "\(record.json())")
        #expect(record.machine.rolledBack)
        #expect(record.steps.map(\.percent) == [10], "tripped during the canary step, before 100 %")
        #expect(after.routing == before.routing, "restored exactly: \(after.routing)")
        // The ALB answers 502 without an executed version for the crashed invokes; the record counts them.
        #expect((versions["?"] ?? 0) >= 2 && (versions["1"] ?? 0) >= 1, "\(versions)")
        // The SVG report marks the alarm in red.
        let picture = RolloutReport.svg(record)
        #expect(picture.contains("fill=\"#d62728\"><title>ALARM"), "the ALARM span")
        let canary = try #require(record.steps.first)
        #expect(canary.percent == 10 && (canary.versions["3"]?.errors ?? 0) >= 2, "\(record.steps)")
        #expect(canary.versions["1"]?.errors == 0)
    }

    @Test func aFailingPreTrafficHookRollsBackBeforeAnyTrafficMoves() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (server, admin) = try await Self.start(in: dir)
        let result = try await AlbatrossCommand.run(
            [
                "rollout", "shop", "--to", "2", "--config", "LambdaLinear10PercentEvery1Minute", "--time-scale", "60",
                "--pre-hook", "CodeDeployHook_fail", "--admin", "127.0.0.1:\(admin)",
            ], timeout: 90)
        let alias = try server.registry.alias(functionName: "shop", name: "live")
        let record = try #require(server.application.rollouts?.records().first)
        let status = try await AlbatrossCommand.run(["rollout", "status", record.id, "--admin", "127.0.0.1:\(admin)"])
        await server.shutdown()
        #expect(result.status != 0, "\(result)")
        #expect(result.stdout.contains("HOOK_EXECUTION_FAILURE"), "\(result)")
        #expect(record.machine.status == .failed && record.machine.hooks["BeforeAllowTraffic"] == .failed)
        #expect(record.steps.isEmpty && record.machine.history.allSatisfy { ($0.percent ?? 0) == 0 })
        #expect(alias.routing == AliasRouting(primaryVersion: "1"))
        #expect(record.hookExecutionIds["BeforeAllowTraffic"] != nil)
        #expect(
            status.status == 0 && status.stdout.contains(record.id) && status.stdout.contains("Failed"), "\(status)")
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
