import AlbatrossTestKit
import Foundation
import LambdaModel
import Registry
import Rollout
import Testing

/// A rollout interrupted by `kill -9` of a real `albatross serve` process (issue 13's tests): the alias is left
/// half-way and the record `InProgress` on disk, as only a killed process leaves them; the next start rolls it
/// back, says so, and leaves the alias where a new rollout can start from.
@Suite(.serialized)
struct RolloutKillTests {
    static let yaml = """
        dataDirectory: ./data
        admin: {address: 127.0.0.1, port: 0}
        functions:
          - name: shop
            runtime: provided.al2023
            handler: h
            code: ./one
            versions:
              - {version: 1, code: ./one}
              - {version: 2, code: ./two}
            aliases:
              - {name: live, version: "1"}
        targetGroups:
          - {name: live, function: "shop:live"}
        listeners:
          - port: 0
            defaultAction: {forward: live}
        """

    static func adminPort(_ server: ServeProcess) async throws -> Int {
        try #require(await server.adminPort(), "no admin listener announced: \(server.output)")
    }

    /// `GET /rollouts/<id>` of the server at `admin`; nil when it does not answer.
    static func record(_ id: String, admin: Int) async -> RolloutRecord? {
        let text = try? await offPool { try RawHTTPClient(port: admin, timeout: 5).request("GET", "/rollouts/\(id)") }
        guard let text, text.status == 200 else { return nil }
        return try? JSONDecoder().decode(RolloutRecord.self, from: Data(text.text.utf8))
    }

    @Test func aRolloutInterruptedByKill9IsRolledBackWhenTheServerStartsAgain() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TestFunctions.writeBash(in: dir, name: "one", handler: TestFunctions.albResponse(body: "one"))
        try TestFunctions.writeBash(in: dir, name: "two", handler: TestFunctions.albResponse(body: "two"))
        let config = try dir.write("test.yaml", Self.yaml)
        let server = try await ServeProcess.start(configPath: config)
        defer { server.cleanUp() }
        // An alias of the store, not of the YAML (which is applied again at every start and would hide the
        // recovery): made by the CLI, another process writing the store the server runs on.
        let made = try await AlbatrossCommand.run(["alias", "set", "shop", "beta", "--version", "1", "-c", config])
        #expect(made.status == 0, "\(made)")
        let admin = try await Self.adminPort(server)

        // The follower, as a user runs it: a 30-minute canary, so the kill lands during its 10 % step.
        let follower = try BackgroundProcess(
            AlbatrossCommand.executable(),
            [
                "rollout", "shop", "--alias", "beta", "--to", "2", "--config",
                "CodeDeployDefault.LambdaCanary10Percent30Minutes", "--admin", "127.0.0.1:\(admin)",
            ])
        defer { follower.cleanUp() }
        #expect(await follower.waitForOutput("rollout d-", timeout: 30), "\(follower.output)")
        let id = try #require(follower.output.firstMatch(of: #/rollout (d-[A-Z0-9]{9})/#).map { String($0.1) })
        #expect(
            await eventually(seconds: 30) { await Self.record(id, admin: admin)?.machine.percent == 10 },
            "the canary's first shift")
        // Traffic through the listener while the alias is split (the server has runtimes to leave behind).
        let listener = server.port
        let answers = try await offPool {
            let client = try RawHTTPClient(port: listener, timeout: 10)
            return try (0..<5).map { _ in try client.request("GET", "/").text }
        }
        #expect(answers.allSatisfy { $0 == "one" }, "\(answers)")

        // kill -9 by pid: no shutdown, no rollback. Its runtimes are ours to end too (by pid, after it is gone).
        let runtimes = ProcessTree.children(of: server.pid)
        kill(server.pid, SIGKILL)
        let outcome = await server.child.waitForExit(timeout: 20)
        for pid in runtimes {
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
        }
        #expect(outcome?.exited == false, "killed by a signal")
        // What a killed server leaves: the record InProgress on disk, the alias half-way in the store.
        let registry = try Registry(dataDirectory: dir.url("data"), account: AccountContext())
        let halfWay = try registry.alias(functionName: "shop", name: "beta")
        #expect(halfWay.routing == AliasRouting(primaryVersion: "1", additionalVersion: "2", additionalWeight: 0.1))
        let file = dir.url("data/rollouts/\(id).json")
        let onDisk = try JSONDecoder().decode(
            RolloutRecord.self, from: try #require(FileManager.default.contents(atPath: file)))
        #expect(onDisk.machine.status == .inProgress && !onDisk.ended && onDisk.machine.percent == 10)
        // The follower loses its server and says so with a failure status, rather than waiting forever.
        let followed = await follower.waitForExit(timeout: 40)
        #expect(followed.map { $0.exited && $0.status != 0 } == true, "\(follower.output)")

        // The next start: the rollout is rolled back and the record says why.
        let again = try await ServeProcess.start(configPath: config)
        defer { again.cleanUp() }
        let newAdmin = try await Self.adminPort(again)
        var recovered: RolloutRecord?
        _ = await eventually(seconds: 30) {
            recovered = await Self.record(id, admin: newAdmin)
            return recovered?.ended == true
        }
        let record = try #require(recovered, "\(again.output)")
        #expect(record.machine.status == .failed && record.machine.errorCode == "SERVER_RESTART", "\(record.json())")
        #expect(record.machine.rolledBack && record.ended)
        #expect(record.rollbackSummary.contains("alias restored to version 1"))
        #expect(again.output.contains("rollout \(id) of shop:beta was unfinished when the server stopped"))
        let restored = try registry.alias(functionName: "shop", name: "beta")
        #expect(restored.routing == AliasRouting(primaryVersion: "1"), "\(restored.routing)")
        let persisted = try JSONDecoder().decode(
            RolloutRecord.self, from: try #require(FileManager.default.contents(atPath: file)))
        #expect(persisted.ended && persisted.machine.status == .failed, "the rollback is on disk too")

        // Consistent: a new rollout of the alias starts from version 1 and completes.
        let redo = try await AlbatrossCommand.run(
            [
                "rollout", "shop", "--alias", "beta", "--to", "2", "--config", "LambdaAllAtOnce", "--admin",
                "127.0.0.1:\(newAdmin)",
            ], timeout: 60)
        #expect(redo.status == 0 && redo.stdout.contains("1 → 2"), "\(redo)")
        #expect(try registry.alias(functionName: "shop", name: "beta").routing == AliasRouting(primaryVersion: "2"))
        let stopped = await again.stop()
        #expect(stopped.exited && stopped.status == 0, "\(stopped.output)")
    }
}
