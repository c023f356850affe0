import AlbatrossTestKit
import Foundation
import Testing

/// `GET /status` on the admin listener and `albatross status`: the running server's listeners, rules, target
/// groups, functions with versions and weighted aliases, live environments and counts since start.
@Suite(.serialized)
struct StatusTests {
    static let yaml = """
        dataDirectory: ./data
        admin: {port: 0}
        functions:
          - name: shop
            runtime: provided.al2023
            handler: h
            code: ./shop
            maximumConcurrency: 3
            versions:
              - {version: 1}
              - {version: 2, code: ./two}
            aliases:
              - {name: live, version: "1", weights: {"2": 0.25}, sticky: "header:x-user"}
        targetGroups:
          - {name: shop, function: "shop:live"}
          - {name: empty}
        listeners:
          - port: 0
            defaultAction: {forward: shop}
            rules:
              - {priority: 5, conditions: [{pathPattern: ["/nothing*"]}], action: {forward: empty}}
              - priority: 9
                conditions: [{httpHeader: {name: x-env, values: [test]}}]
                action: {fixedResponse: {statusCode: 418}}
        """

    static func start(in dir: TemporaryDirectory) async throws -> (ServerHarness, Int) {
        try TestFunctions.writeBash(in: dir, name: "shop", handler: TestFunctions.albResponse(body: "ok"))
        try TestFunctions.writeBash(in: dir, name: "two", handler: TestFunctions.albResponse(body: "two"))
        let server = try await ServerHarness(yaml: Self.yaml, baseDirectory: dir.path)
        // The admin listener binds when the services run (seconds on a loaded machine).
        let deadline = Date().addingTimeInterval(30)
        while server.application.admin?.port == nil && Date() < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        return (server, try #require(server.application.admin?.port))
    }

    static func status(port: Int) throws -> [String: Any] {
        let response = try RawHTTPClient(port: port, timeout: 10).request("GET", "/status")
        #expect(response.status == 200)
        #expect(response.header("content-type") == "application/json")
        return try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
    }

    @Test func statusShowsWhatServesNow() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (server, port) = try await Self.start(in: dir)
        let client = try server.client()
        for _ in 0..<3 { #expect(try client.request("GET", "/", headers: [("x-user", "ann")]).status == 200) }
        // The environment's invokeFinished can reach the subscribers just after the client has its answer.
        var status = try Self.status(port: port)
        let until = Date().addingTimeInterval(10)
        // Its freeze comes with the runtime's next /next, just after.
        while Date() < until,
            (status["environments"] as? [[String: Any]])?.first?["invocations"] as? Int != 3
                || (status["environments"] as? [[String: Any]])?.first?["state"] as? String != "frozen"
        {
            try await Task.sleep(for: .milliseconds(20))
            status = try Self.status(port: port)
        }
        // The isolation detected at start (the suite's ALBATROSS_ISOLATION, process by default).
        let serverInfo = status["server"] as? [String: Any]
        let isolation = serverInfo?["isolation"] as? String ?? ""
        let mode = ProcessInfo.processInfo.environment["ALBATROSS_ISOLATION"] ?? "process"
        #expect(isolation.hasPrefix(mode == "auto" ? "" : mode) && !isolation.isEmpty, "\(isolation)")
        let listeners = try #require(status["listeners"] as? [[String: Any]])
        #expect(listeners.count == 1)
        #expect(listeners[0]["url"] as? String == "http://127.0.0.1:\(server.port)")
        let rules = try #require(listeners[0]["rules"] as? [[String: Any]])
        #expect(rules.map { $0["priority"] as? Int } == [5, 9])
        let header = try #require((rules[1]["conditions"] as? [[String: Any]])?.first)
        #expect(header["field"] as? String == "http-header")
        #expect(header["headerName"] as? String == "x-env")
        #expect((rules[1]["action"] as? [String: Any])?["statusCode"] as? Int == 418)
        let groups = try #require(status["targetGroups"] as? [[String: Any]])
        #expect(groups.map { $0["target"] as? String } == ["shop:live", nil])

        let function = try #require((status["functions"] as? [[String: Any]])?.first)
        #expect(function["name"] as? String == "shop")
        let versions = try #require(function["versions"] as? [[String: Any]])
        #expect(versions.map { $0["version"] as? String } == ["$LATEST", "1", "2"])
        #expect(versions[0]["maximumConcurrency"] as? Int == 3)
        #expect(versions[0]["codeRevision"] as? String != nil)
        #expect(versions[1]["codeRevision"] == nil)
        let alias = try #require((function["aliases"] as? [[String: Any]])?.first)
        #expect(alias["name"] as? String == "live")
        #expect(alias["functionVersion"] as? String == "1")
        #expect(alias["additionalVersionWeights"] as? [String: Double] == ["2": 0.25])
        #expect(alias["stickiness"] as? String == "header:x-user")

        // Sticky: one caller, one version, one warm environment serving all three; idle, it is frozen
        // (`environments.freezeIdle` is on by default), which its `freeze` event tells.
        let environments = try #require(status["environments"] as? [[String: Any]])
        #expect(environments.count == 1, "\(environments)")
        #expect(environments.first?["state"] as? String == "frozen")
        #expect(environments.first?["invocations"] as? Int == 3)
        let pid = try #require(environments.first?["pid"] as? Int)
        #expect(kill(pid_t(pid), 0) == 0, "the pid shown is the live runtime")
        let totals = try #require(status["invocations"] as? [[String: Any]])
        #expect(totals.count == 1)
        #expect(totals.first?["resource"] as? String == "shop:live")
        #expect(totals.first?["invocations"] as? Int == 3)
        #expect(totals.first?["coldStarts"] as? Int == 1)
        #expect(totals.first?["errors"] as? Int == 0)

        // The listener's connection counts, read at scrape time: `client` is still open.
        let metrics = try RawHTTPClient(port: port, timeout: 10).request("GET", "/metrics").text
        let listener = "HTTP:\(server.port)"
        #expect(metrics.contains("albatross_alb_active_connections{listener=\"\(listener)\"} 1"), "\(metrics)")
        #expect(metrics.contains("albatross_alb_new_connections_total{listener=\"\(listener)\"} 1"))
        #expect(metrics.contains("albatross_alb_rejected_connections_total{listener=\"\(listener)\"} 0"))

        // The CLI: the same document, and its human form.
        let json = try await AlbatrossCommand.run(["status", "--admin", "127.0.0.1:\(port)", "--json"])
        #expect(json.status == 0, "\(json)")
        let parsed = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((parsed?["functions"] as? [[String: Any]])?.count == 1)
        let text = try await AlbatrossCommand.run(["status", "--admin", "127.0.0.1:\(port)"])
        #expect(text.status == 0, "\(text)")
        #expect(text.stdout.contains("    5  path-pattern /nothing* → forward empty"), "\(text.stdout)")
        #expect(text.stdout.contains("    default → forward shop"))
        #expect(text.lines.contains { $0.hasPrefix("  shop") && $0.contains("live") && $0.contains("2 at 25 %") })
        #expect(text.lines.contains { $0.contains("shop") && $0.contains(" frozen ") && $0.contains("\(pid)") })
        await server.shutdown()
    }

    /// The state of one environment through its life with `freezeIdle` on: frozen while idle, busy while an
    /// invoke placed on it runs (thawed), frozen again after; with `freezeIdle: false` an idle one is `ready`.
    @Test func aFrozenEnvironmentShowsAsFrozenAndAThawedOneAsBusy() async throws {
        for freezes in [true, false] {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            try TestFunctions.writeBash(
                in: dir, name: "slow",
                handler: #"case "$1" in *slow*) sleep 2 ;; esac; "# + TestFunctions.albResponse(body: "ok"))
            let yaml = """
                dataDirectory: ./data
                admin: {port: 0}
                environments: {freezeIdle: \(freezes)}
                functions:
                  - {name: slow, runtime: provided.al2023, handler: h, code: ./slow}
                targetGroups:
                  - {name: slow, function: slow}
                listeners:
                  - port: 0
                    defaultAction: {forward: slow}
                """
            let server = try await ServerHarness(yaml: yaml, baseDirectory: dir.path)
            let deadline = Date().addingTimeInterval(30)
            while server.application.admin?.port == nil && Date() < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            let port = try #require(server.application.admin?.port)
            func state() throws -> String? {
                let status = try Self.status(port: port)
                return (status["environments"] as? [[String: Any]])?.first?["state"] as? String
            }
            func reaches(_ wanted: String) async throws -> Bool {
                let until = Date().addingTimeInterval(10)
                while Date() < until {
                    if try state() == wanted { return true }
                    try await Task.sleep(for: .milliseconds(20))
                }
                return false
            }
            let idle = freezes ? "frozen" : "ready"
            #expect(try server.client().request("GET", "/").status == 200)
            #expect(try await reaches(idle), "idle after its first invoke: \(idle)")
            // A slow invoke: thawed, busy while it runs.
            let port80 = server.port
            let slow = Task {
                try await offPool { try RawHTTPClient(port: port80, timeout: 20).request("GET", "/slow").status }
            }
            #expect(try await reaches("busy"), "busy while the invoke placed on it runs")
            #expect(try await slow.value == 200)
            #expect(try await reaches(idle), "idle again: \(idle)")
            if !freezes {
                // Never frozen: after a while idle it is still ready.
                try await Task.sleep(for: .milliseconds(300))
                #expect(try state() == "ready")
            }
            await server.shutdown()
        }
    }

    @Test func theCommandNamesWhatIsMissing() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("plain.yaml", "dataDirectory: ./data\nfunctions: []\n")
        let noAdmin = try await AlbatrossCommand.run(["status", "-c", dir.url("plain.yaml")])
        #expect(noAdmin.status == 1)
        #expect(noAdmin.stderr.contains("has no admin: section"), "\(noAdmin)")
        // Nothing listens on a port just freed.
        let port = try FreePort.next()
        let nobody = try await AlbatrossCommand.run(["status", "--admin", "127.0.0.1:\(port)"])
        #expect(nobody.status == 1)
        #expect(nobody.stderr.contains("no server answers on the admin listener 127.0.0.1:\(port)"), "\(nobody)")
        let bad = try await AlbatrossCommand.run(["status", "--admin", "nowhere"])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("--admin must be host:port"))
    }
}
