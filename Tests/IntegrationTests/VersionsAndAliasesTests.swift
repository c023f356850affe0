import AlbatrossTestKit
import Foundation
import Registry
import Testing

/// Published versions and weighted aliases end to end: configuration → store → catalog → ALB → runtime.
@Suite(.serialized)
struct VersionsAndAliasesTests {
    /// Two code directories whose function answers with its own label and the version that runs it.
    static func writeCode(in dir: TemporaryDirectory) throws {
        for label in ["one", "two", "three"] {
            let handler = #"printf '{"statusCode":200,"body":"\#(label) %s"}' "$AWS_LAMBDA_FUNCTION_VERSION""#
            try TestFunctions.writeBash(in: dir, name: label, handler: handler)
        }
    }

    static func yaml(weight: Double, sticky: String? = nil, extraVersion: Bool = false) -> String {
        """
        dataDirectory: ./data
        loadBalancer:
          attributes:
            albatross.executed_version_header: X-Executed-Version
        functions:
          - name: shop
            runtime: provided.al2023
            handler: h
            code: ./three
            versions:
              - {version: 1, code: ./one}
              - {version: 2, code: ./two}
        \(extraVersion ? "      - {version: 3, code: ./three}" : "")
            aliases:
              - {name: live, version: "1", weights: {"2": \(weight)}\(sticky.map { ", sticky: \"\($0)\"" } ?? "")}
        targetGroups:
          - {name: live, function: "shop:live"}
          - {name: v1, function: "shop:1"}
          - {name: latest, function: shop}
        listeners:
          - port: 0
            defaultAction: {forward: live}
            rules:
              - {priority: 1, conditions: [{pathPattern: ["/v1"]}], action: {forward: v1}}
              - {priority: 2, conditions: [{pathPattern: ["/latest"]}], action: {forward: latest}}
        """
    }

    @Test func versionsRunTheirOwnCodeAndTheAliasSplitsTraffic() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.writeCode(in: dir)
        let server = try await ServerHarness(yaml: Self.yaml(weight: 0.5), baseDirectory: dir.path)
        let client = try server.client()
        let v1 = try client.request("GET", "/v1")
        let latest = try client.request("GET", "/latest")
        var seen: [String: Int] = [:]
        for _ in 0..<60 {
            let response = try client.request("GET", "/")
            seen[response.text, default: 0] += 1
            #expect(response.header("X-Executed-Version").map { response.text.hasSuffix($0) } == true)
        }
        await server.shutdown()
        #expect(v1.text == "one 1" && v1.header("X-Executed-Version") == "1")
        #expect(latest.text == "three $LATEST")
        #expect(Set(seen.keys) == ["one 1", "two 2"], "\(seen)")
        #expect((seen["two 2"] ?? 0) > 10 && (seen["one 1"] ?? 0) > 10, "a 50 % split over 60 requests: \(seen)")
    }

    @Test func aSeededRandomSourceReplaysTheSameSequenceOfVersions() async throws {
        var sequences: [[String]] = []
        for _ in 0..<2 {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            try Self.writeCode(in: dir)
            let yaml = "randomSeed: 2026\n" + Self.yaml(weight: 0.5)
            let server = try await ServerHarness(yaml: yaml, baseDirectory: dir.path)
            let client = try server.client()
            sequences.append(try (0..<24).map { _ in try client.request("GET", "/").text })
            await server.shutdown()
        }
        #expect(sequences[0] == sequences[1], "the same seed gives the same versions in the same order")
        #expect(Set(sequences[0]).count == 2)
    }

    @Test func stickyAliasKeepsEachUserOnOneVersion() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.writeCode(in: dir)
        let server = try await ServerHarness(
            yaml: Self.yaml(weight: 0.3, sticky: "header:x-user"), baseDirectory: dir.path)
        let client = try server.client()
        var versions: [String: Set<String>] = [:]
        for round in 0..<3 {
            for user in 0..<20 {
                let response = try client.request("GET", "/", headers: [("X-User", "user-\(user)")])
                versions["user-\(user)", default: []].insert(response.text)
                _ = round
            }
        }
        await server.shutdown()
        #expect(versions.values.allSatisfy { $0.count == 1 }, "every user stays on one version: \(versions)")
        let onCanary = versions.values.filter { $0 == ["two 2"] }.count
        #expect(onCanary > 0 && onCanary < 20)
    }

    @Test func restartPublishesNothingTwiceAndAConflictIsAClearError() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.writeCode(in: dir)
        let first = try await ServerHarness(yaml: Self.yaml(weight: 0.1), baseDirectory: dir.path)
        let before = try first.registry.versions(functionName: "shop").map(\.version)
        let aliasRevision = try first.registry.alias(functionName: "shop", name: "live").revisionId
        await first.shutdown()
        let second = try await ServerHarness(yaml: Self.yaml(weight: 0.1), baseDirectory: dir.path)
        let after = try second.registry.versions(functionName: "shop").map(\.version)
        let aliasRevisionAfter = try second.registry.alias(functionName: "shop", name: "live").revisionId
        let response = try second.client().request("GET", "/v1")
        await second.shutdown()
        #expect(before == ["$LATEST", "1", "2"])
        #expect(after == before, "nothing published twice")
        #expect(aliasRevisionAfter == aliasRevision, "an unchanged alias is not rewritten")
        #expect(response.text == "one 1")

        // Version 3 is new: published on this start. Then version 2 is declared with other code: a conflict.
        let third = try await ServerHarness(yaml: Self.yaml(weight: 0.1, extraVersion: true), baseDirectory: dir.path)
        #expect(try third.registry.versions(functionName: "shop").map(\.version) == ["$LATEST", "1", "2", "3"])
        await third.shutdown()
        let conflicting = Self.yaml(weight: 0.1).replacingOccurrences(
            of: "{version: 2, code: ./two}", with: "{version: 2, code: ./three}")
        do {
            _ = try await ServerHarness(yaml: conflicting, baseDirectory: dir.path)
            Issue.record("a conflicting version must be refused")
        } catch {
            let message = "\(error)"
            #expect(message.contains("test.yaml:"), "\(message)")
            #expect(message.contains("functions[0].versions[1]"), "\(message)")
            #expect(message.contains("version 2 of shop in the store has CodeSha256"), "\(message)")
        }
    }

    @Test func anAliasChangedThroughTheCLIAppliesToTheNextRequestOfARunningServer() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.writeCode(in: dir)
        let config = try dir.write(
            "serve.yaml", Self.yaml(weight: 0).replacingOccurrences(of: "port: 0", with: "port: 0"))
        let (process, port, _) = try ServeCommandTests.startServe(
            config: try String(contentsOfFile: config, encoding: .utf8), in: dir)
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let before = try RawHTTPClient(port: port).request("GET", "/")
        let executable = try #require(PackagePaths.albatrossExecutable)
        let cli = Process()
        cli.executableURL = URL(fileURLWithPath: executable)
        cli.arguments = ["alias", "set", "shop", "live", "--version", "2", "--config", dir.url("serve.yaml")]
        try cli.run()
        cli.waitUntilExit()
        #expect(cli.terminationStatus == 0)
        let switched = ProcessTree.wait(seconds: 5) {
            (try? RawHTTPClient(port: port).request("GET", "/").text) == "two 2"
        }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(before.text == "one 1")
        #expect(switched, "the running server picked up the alias change")
    }
}
