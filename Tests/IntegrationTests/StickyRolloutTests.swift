import AlbatrossTestKit
import Foundation
import NIOConcurrencyHelpers
import Registry
import Rollout
import Routing
import Testing

/// Sticky users while a weight grows (issue 13's tests), through a real listener and real functions: with a
/// sticky alias a rollout moves each user from the old version to the new one once, when the weight passes the
/// user's point, and never back; with `AWSALBTG` target-group stickiness a client stays on its group whatever the
/// weights (0 included) and moves forward only when its group leaves the action.
@Suite(.serialized)
struct StickyRolloutTests {
    static let users = (0..<16).map { "user-\($0)" }

    /// One round of requests: the alias's weight of version 2 read before and after, and each user's version.
    struct Round: Sendable {
        var weightBefore: Double
        var weightAfter: Double
        var versions: [String: String]
    }

    static func weight(_ alias: AliasRecord) -> Double {
        alias.routing.additionalVersion == "2"
            ? alias.routing.additionalWeight : alias.routing.primaryVersion == "2" ? 1 : 0
    }

    @Test func aStickyAliasMovesEachUserForwardOnceAsARolloutRaisesTheWeight() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TestFunctions.writeBash(in: dir, name: "one", handler: TestFunctions.albResponse(body: "one"))
        try TestFunctions.writeBash(in: dir, name: "two", handler: TestFunctions.albResponse(body: "two"))
        let yaml = """
            dataDirectory: ./data
            loadBalancer:
              attributes:
                albatross.executed_version_header: X-Executed-Version
            functions:
              - name: shop
                runtime: provided.al2023
                handler: h
                code: ./one
                versions:
                  - {version: 1, code: ./one}
                  - {version: 2, code: ./two}
                aliases:
                  - {name: live, version: "1", sticky: "header:x-user"}
            targetGroups:
              - {name: live, function: "shop:live"}
            listeners:
              - port: 0
                defaultAction: {forward: live}
            """
        let server = try await ServerHarness(yaml: yaml, baseDirectory: dir.path)
        let runner = try #require(server.application.rollouts)
        // Ten shifts of 10 %, two seconds apart at 30× (a round of requests takes about a second).
        let started = try await runner.start(
            RolloutRequest(
                function: "shop", alias: "live", to: "2", config: "LambdaLinear10PercentEvery1Minute", timeScale: 30))
        let (port, registry, id) = (server.port, server.registry, started.id)
        let rounds = try await offPool { () throws -> [Round] in
            let client = try RawHTTPClient(port: port, timeout: 10)
            var rounds: [Round] = []
            var endedRounds = 0
            let deadline = Date().addingTimeInterval(90)
            // Rounds until two after the rollout ended (the last at 100 %).
            while endedRounds < 2 && Date() < deadline {
                if runner.record(id)?.ended == true { endedRounds += 1 }
                let before = Self.weight(try registry.alias(functionName: "shop", name: "live"))
                var versions: [String: String] = [:]
                for user in Self.users {
                    let response = try client.request("GET", "/", headers: [("X-User", user)])
                    versions[user] = response.header("X-Executed-Version") ?? "?"
                }
                let after = Self.weight(try registry.alias(functionName: "shop", name: "live"))
                rounds.append(Round(weightBefore: before, weightAfter: after, versions: versions))
            }
            return rounds
        }
        let record = try #require(runner.record(id))
        await server.shutdown()
        #expect(record.machine.status == .succeeded, "\(record.json())")
        #expect(record.steps.map(\.percent) == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
        #expect(rounds.count >= 5, "rounds all along the rollout: \(rounds.count)")
        // Each user: version 1, then version 2 from some round on, never back.
        for user in Self.users {
            let sequence = rounds.map { $0.versions[user]! }
            #expect(Set(sequence).isSubset(of: ["1", "2"]), "\(user): \(sequence)")
            let firstTwo = sequence.firstIndex(of: "2") ?? sequence.count
            #expect(sequence[firstTwo...].allSatisfy { $0 == "2" }, "\(user) moved back: \(sequence)")
            #expect(sequence.last == "2", "\(user) ends on version 2")
        }
        // And exactly as its point says: on version 2 only once the weight exceeds the point, on version 1 while
        // the weight (as it stood a round earlier, so that a shift landing mid-round is allowed for) does not.
        var lower = 0.0
        for round in rounds {
            for user in Self.users {
                let point = AliasResolver.stickyPoint(key: user, salt: "shop:live")
                if round.versions[user] == "2" {
                    #expect(point < round.weightAfter, "\(user) at \(point) on 2 with weight \(round.weightAfter)")
                } else {
                    #expect(point >= lower, "\(user) at \(point) still on 1 with weight \(lower)")
                }
            }
            lower = round.weightBefore
        }
        // The rollout moved users in several groups, not all at once.
        let firstRounds = Set(Self.users.compactMap { user in rounds.firstIndex { $0.versions[user] == "2" } })
        #expect(firstRounds.count >= 3, "users moved in at least three different rounds: \(firstRounds.sorted())")
    }

    static func groupsYAML(_ groups: String) -> String {
        """
        dataDirectory: ./data
        admin: {port: 0}
        functions:
          - {name: blue, runtime: provided.al2023, handler: h, code: ./blue}
          - {name: green, runtime: provided.al2023, handler: h, code: ./green}
        targetGroups:
          - {name: blue, function: blue}
          - {name: green, function: green}
        listeners:
          - port: 0
            defaultAction:
              forward:
                targetGroups: [\(groups)]
                stickiness: {durationSeconds: 600}
        """
    }

    @Test func awsalbtgClientsStayOnTheirGroupAsWeightsGrowAndMoveForwardOnlyWhenItLeaves() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        for name in ["blue", "green"] {
            _ = try TestFunctions.writeBash(in: dir, name: name, handler: TestFunctions.albResponse(body: name))
        }
        let start = Self.groupsYAML("{name: blue, weight: 50}, {name: green, weight: 50}")
        try dir.write("test.yaml", start)
        let server = try await ServerHarness(yaml: start, baseDirectory: dir.path, watchesChanges: true)
        #expect(await eventually(seconds: 30) { server.application.admin?.port != nil })
        let admin = "127.0.0.1:\(try #require(server.application.admin?.port))"
        let port = server.port

        /// Every client's request with its cookie (a fresh client has none): the group that answered, and the
        /// cookie the answer set (every answer re-extends it).
        @Sendable func round(
            _ cookies: [String: String]
        ) throws -> (groups: [String: String], cookies: [String: String]) {
            let client = try RawHTTPClient(port: port, timeout: 10)
            var groups: [String: String] = [:]
            var next = cookies
            for user in Self.users {
                let response = try client.request(
                    "GET", "/", headers: cookies[user].map { [("Cookie", $0)] } ?? [])
                groups[user] = response.text
                if let cookie = ListenerReloadTests.stickyCookie(response) { next[user] = cookie }
            }
            return (groups, next)
        }

        // First visits at 50/50: some clients on each group (all 16 on one: 3 in 100,000), each with a cookie.
        var (groups, cookies) = try await offPool { try round([:]) }
        let first = groups
        #expect(Set(first.values) == ["blue", "green"], "\(first)")
        #expect(cookies.count == Self.users.count)
        var history = [first]
        // The weights grow toward green, down to 0 for blue: every client keeps its group all along.
        for weights in [["blue=30", "green=70"], ["blue=10", "green=90"], ["blue=0", "green=1"]] {
            let changed = try await AlbatrossCommand.run(
                ["weights", "--port", String(port)] + weights + ["--admin", admin])
            #expect(changed.status == 0, "\(changed)")
            for _ in 0..<2 {
                (groups, cookies) = try await offPool { [cookies] in try round(cookies) }
                #expect(groups == first, "with \(weights) sticky clients stay where they were")
                history.append(groups)
            }
        }
        // A new client is weighted: at blue=0 none goes to blue.
        let fresh = try await offPool { () throws -> [String] in
            let client = try RawHTTPClient(port: port, timeout: 10)
            return try (0..<20).map { _ in try client.request("GET", "/").text }
        }
        #expect(fresh.allSatisfy { $0 == "green" }, "\(fresh)")

        // Blue leaves the action (a YAML edit the running server picks up): its clients' cookies name a group no
        // longer there, so they are weighted, get green and a new cookie; green's stay.
        // The watcher looks once a second; a loaded machine can hold its blocking pool for a while.
        try dir.write("test.yaml", Self.groupsYAML("{name: green, weight: 1}"))
        var moved = false
        for _ in 0..<90 {
            (groups, cookies) = try await offPool { [cookies] in try round(cookies) }
            history.append(groups)
            if groups.values.allSatisfy({ $0 == "green" }) {
                moved = true
                break
            }
            try await Task.sleep(for: .milliseconds(500))
        }
        #expect(moved, "every client on green once blue left: \(groups)")
        for _ in 0..<2 {
            (groups, cookies) = try await offPool { [cookies] in try round(cookies) }
            history.append(groups)
        }
        await server.shutdown()
        // Forward only: a client seen on green is never on blue afterwards.
        for user in Self.users {
            let sequence = history.map { $0[user]! }
            let firstGreen = sequence.firstIndex(of: "green") ?? sequence.count
            #expect(sequence[firstGreen...].allSatisfy { $0 == "green" }, "\(user): \(sequence)")
        }
        #expect(groups.values.allSatisfy { $0 == "green" })
    }
}
