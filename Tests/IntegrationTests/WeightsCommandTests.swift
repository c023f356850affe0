import AlbatrossTestKit
import Foundation
import Testing

/// `albatross weights` against a running server: the admin listener's `/weights` changes a forward action's
/// weights through LoadBalancer.setWeights, the next request of an open connection follows them, an `AWSALBTG`
/// cookie keeps its client where it was, and a bad change is refused without touching the routing.
@Suite(.serialized)
struct WeightsCommandTests {
    static let yaml = """
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
            rules:
              - priority: 10
                conditions: [{pathPattern: ["/sticky"]}]
                action:
                  forward:
                    targetGroups: [{name: blue, weight: 1}, {name: green, weight: 0}]
                    stickiness: {durationSeconds: 600}
            defaultAction:
              forward:
                targetGroups: [{name: blue, weight: 1}, {name: green, weight: 0}]
        """

    @Test func theCLIChangesWeightsOfARunningListener() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        for name in ["blue", "green"] {
            _ = try TestFunctions.writeBash(in: dir, name: name, handler: TestFunctions.albResponse(body: name))
        }
        let server = try await ServerHarness(yaml: Self.yaml, baseDirectory: dir.path)
        let deadline = Date().addingTimeInterval(30)
        while server.application.admin?.port == nil && Date() < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        let admin = "127.0.0.1:\(try #require(server.application.admin?.port))"
        let port = String(server.port)
        let client = try server.client()
        for _ in 0..<5 { #expect(try client.request("GET", "/").text == "blue") }
        let sticky = try client.request("GET", "/sticky")
        let cookie = try #require(ListenerReloadTests.stickyCookie(sticky))

        let shown = try await AlbatrossCommand.run(["weights", "--admin", admin])
        #expect(shown.status == 0, "\(shown)")
        #expect(shown.stdout.contains("port \(port) default: blue 1 (100.0 %), green 0 (0.0 %)"), "\(shown)")
        #expect(shown.stdout.contains("port \(port) rule 10: blue 1"), "\(shown)")
        #expect(shown.stdout.contains("stickiness 600 s"), "\(shown)")

        let changed = try await AlbatrossCommand.run(
            ["weights", "--port", port, "blue=0", "green=7", "--admin", admin])
        #expect(changed.status == 0 && changed.stdout.contains("green 7 (100.0 %)"), "\(changed)")
        let rule = try await AlbatrossCommand.run(
            ["weights", "--port", port, "--rule", "10", "blue=0", "green=1", "--admin", admin])
        #expect(rule.status == 0, "\(rule)")
        // The same open connection: its next requests follow the new weights; the cookie holder stays on blue.
        for _ in 0..<5 { #expect(try client.request("GET", "/").text == "green") }
        #expect(try client.request("GET", "/sticky", headers: [("Cookie", cookie)]).text == "blue")
        #expect(try client.request("GET", "/sticky").text == "green")

        let unknown = try await AlbatrossCommand.run(["weights", "--port", port, "red=5", "--admin", admin])
        let zero = try await AlbatrossCommand.run(["weights", "--port", port, "green=0", "--admin", admin])
        let noListener = try await AlbatrossCommand.run(["weights", "--port", "1", "blue=1", "--admin", admin])
        let after = try client.request("GET", "/").text
        await server.shutdown()
        #expect(unknown.status != 0 && unknown.stderr.contains("not red"), "\(unknown)")
        #expect(zero.status != 0 && zero.stderr.contains("needs a weight above 0"), "\(zero)")
        #expect(noListener.status != 0 && noListener.stderr.contains("no listener on port 1"), "\(noListener)")
        #expect(after == "green", "a refused change leaves the routing as it was")
    }
}
