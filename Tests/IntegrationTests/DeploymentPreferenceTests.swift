import AlbatrossTestKit
import Foundation
import InvocationModel
import LambdaModel
import NIOCore
import Registry
import Rollout
import Testing

/// SAM's `DeploymentPreference` on a declared alias, end to end: `albatross publish` (another process writing the
/// store) publishes a version, the running server notices and rolls the alias out to it with the declared
/// configuration, hooks and alarms; a restart applies the YAML again without undoing the deployment.
@Suite(.serialized)
struct DeploymentPreferenceTests {
    static let yaml = """
        dataDirectory: ./data
        admin: {port: 0}
        functions:
          - name: shop
            runtime: provided.al2023
            handler: h
            code: ./good2
            versions:
              - {version: 1, code: ./good}
            aliases:
              - name: live
                version: "1"
                deploymentPreference:
                  Type: Canary10Percent5Minutes
                  TimeScale: 150
                  Alarms: ["errors>50%/10m"]
                  Hooks: {PostTraffic: CodeDeployHook_ok}
                  TriggerConfigurations:
                    - {TriggerName: T, TriggerEvents: [DeploymentSuccess], TriggerTargetArn: "arn:aws:sns:us-east-1:123456789012:t"}
          - {name: CodeDeployHook_ok, runtime: provided.al2023, handler: h, code: ./hookok}
        """

    static func start(in dir: TemporaryDirectory) async throws -> ServerHarness {
        try Self.yaml.write(toFile: dir.url("test.yaml"), atomically: true, encoding: .utf8)
        return try await ServerHarness(yaml: Self.yaml, baseDirectory: dir.path)
    }

    @Test func publishingAVersionRollsTheAliasOutToItAndARestartKeepsIt() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TestFunctions.writeBash(in: dir, name: "good", handler: TestFunctions.albResponse(body: "ok"))
        try TestFunctions.writeBash(in: dir, name: "good2", handler: TestFunctions.albResponse(body: "ok 2"))
        try TestFunctions.writeBash(in: dir, name: "hookok", handler: #"printf '{"status":"Succeeded"}'"#)
        let server = try await Self.start(in: dir)
        let runner = try #require(server.application.rollouts)
        // Nothing is published yet beyond the declared version 1, which the alias names: no rollout.
        try await Task.sleep(for: .milliseconds(700))
        #expect(runner.records().isEmpty)
        let publish = try await AlbatrossCommand.run(["publish", "shop", "-c", dir.url("test.yaml")])
        #expect(publish.status == 0 && publish.stdout.contains("version 2"), "\(publish)")
        // The runner looks twice a second; the canary's 5 minutes last 2 s at 150×.
        let deadline = Date().addingTimeInterval(40)
        var record: RolloutRecord?
        while Date() < deadline {
            if let found = runner.records().first {
                if found.ended {
                    record = found
                    break
                }
                // Through the alias, and version 2 directly (as a PreTraffic test would), so that the alarm on
                // version 2 has data whatever the 10 % draw gives.
                for qualifier in ["live", "2"] {
                    _ = try? await server.application.invoke(
                        InvokeRequest(functionName: "shop", qualifier: qualifier, payload: ByteBuffer(string: "{}")))
                }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let alias = try server.registry.alias(functionName: "shop", name: "live")
        await server.shutdown()
        let deployed = try #require(record, "no rollout ended: \(runner.records().map { $0.json() })")
        #expect(deployed.creator == "DeploymentPreference")
        #expect(deployed.machine.status == .succeeded, "\(deployed.json())")
        #expect(deployed.machine.spec.currentVersion == "1" && deployed.machine.spec.targetVersion == "2")
        #expect(deployed.machine.spec.configuration.name == "CodeDeployDefault.LambdaCanary10Percent5Minutes")
        #expect(deployed.machine.spec.timeScale == 150 && deployed.machine.spec.alarms.count == 1)
        #expect(deployed.machine.hooks["AfterAllowTraffic"] == .succeeded)
        #expect(deployed.steps.map(\.percent) == [10, 100])
        #expect(alias.routing == AliasRouting(primaryVersion: "2"))

        // The YAML still says version 1: applied again at the next start, it does not undo the deployment, and
        // version 2, deployed once, is not deployed again.
        let again = try await Self.start(in: dir)
        try await Task.sleep(for: .milliseconds(1200))
        let after = try again.registry.alias(functionName: "shop", name: "live")
        let records = try #require(again.application.rollouts).records()
        await again.shutdown()
        #expect(after.routing == AliasRouting(primaryVersion: "2"))
        #expect(records.map(\.id) == [deployed.id], "only the first deployment, found on disk")
    }

    @Test func aFailedDeploymentIsNotRetriedAndLeavesTheAliasWhereItWas() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TestFunctions.writeBash(in: dir, name: "good", handler: TestFunctions.albResponse(body: "ok"))
        try TestFunctions.writeBash(in: dir, name: "good2", handler: TestFunctions.albResponse(body: "ok 2"))
        try TestFunctions.writeBash(in: dir, name: "hookok", handler: #"printf '{"status":"Failed"}'"#)
        let server = try await Self.start(in: dir)
        let runner = try #require(server.application.rollouts)
        let publish = try await AlbatrossCommand.run(["publish", "shop", "-c", dir.url("test.yaml")])
        #expect(publish.status == 0, "\(publish)")
        let deadline = Date().addingTimeInterval(40)
        while Date() < deadline, runner.records().first?.ended != true {
            try await Task.sleep(for: .milliseconds(20))
        }
        // Looked at again several times: version 2 was tried once.
        try await Task.sleep(for: .milliseconds(1500))
        let records = runner.records()
        let alias = try server.registry.alias(functionName: "shop", name: "live")
        await server.shutdown()
        #expect(records.count == 1, "\(records.map { $0.json() })")
        // No traffic feeds the alarm (INSUFFICIENT_DATA), or the PostTraffic hook says Failed: a failure either way.
        let failed = try #require(records.first)
        #expect(failed.machine.status == .failed && failed.machine.rolledBack, "\(failed.json())")
        #expect(alias.routing == AliasRouting(primaryVersion: "1"))
    }

    @Test func aBadTypeFailsTheStartAtItsLine() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TestFunctions.writeBash(in: dir, name: "good", handler: TestFunctions.albResponse(body: "ok"))
        try TestFunctions.writeBash(in: dir, name: "good2", handler: TestFunctions.albResponse(body: "ok 2"))
        try TestFunctions.writeBash(in: dir, name: "hookok", handler: "true")
        let yaml = Self.yaml.replacingOccurrences(of: "Canary10Percent5Minutes", with: "Canary10Percent7Minutes")
        await #expect {
            _ = try await ServerHarness(yaml: yaml, baseDirectory: dir.path)
        } throws: { error in
            let text = "\(error)"
            return text.contains("deploymentPreference.Type") && text.contains("Canary10Percent7Minutes")
        }
    }
}
