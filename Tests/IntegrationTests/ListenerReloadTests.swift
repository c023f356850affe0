import AlbatrossTestKit
import Foundation
import Testing

/// Weights and rules change on a running server: an edit of the configuration file routes the next request of
/// every open connection with the new weights (no connection is dropped), and target-group stickiness keeps the
/// clients that have its cookie where they were (issue 13 item 1).
@Suite(.serialized)
struct ListenerReloadTests {
    static func yaml(blue: Int, green: Int, extraRule: String = "") -> String {
        """
        dataDirectory: ./data
        functions:
          - {name: blue, runtime: provided.al2023, handler: h, code: ./blue}
          - {name: green, runtime: provided.al2023, handler: h, code: ./green}
        targetGroups:
          - {name: blue, function: blue}
          - {name: green, function: green}
        listeners:
          - port: 0
            rules:
        \(extraRule)
              - priority: 10
                conditions: [{pathPattern: ["/sticky"]}]
                action:
                  forward:
                    targetGroups: [{name: blue, weight: \(blue)}, {name: green, weight: \(green)}]
                    stickiness: {durationSeconds: 600}
            defaultAction:
              forward:
                targetGroups: [{name: blue, weight: \(blue)}, {name: green, weight: \(green)}]
        """
    }

    /// The `AWSALBTG=...` pair of an answer, for a `Cookie` header.
    static func stickyCookie(_ response: RawHTTPClient.Response) -> String? {
        response.headers("Set-Cookie").first { $0.hasPrefix("AWSALBTG=") }.map { String($0.prefix { $0 != ";" }) }
    }

    @Test func aWeightEditReachesOpenConnectionsAndStickyClientsStay() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        for name in ["blue", "green"] {
            _ = try TestFunctions.writeBash(in: dir, name: name, handler: TestFunctions.albResponse(body: name))
        }
        try dir.write("test.yaml", Self.yaml(blue: 1, green: 0))
        let server = try await ServerHarness(
            yaml: Self.yaml(blue: 1, green: 0), baseDirectory: dir.path, watchesChanges: true)
        let client = try server.client()
        for _ in 0..<5 { #expect(try client.request("GET", "/").text == "blue") }
        let sticky = try client.request("GET", "/sticky")
        #expect(sticky.text == "blue")
        let cookie = try #require(Self.stickyCookie(sticky))

        // Everything to green, with a new rule in front: the same connection sees both within the watcher's poll.
        try dir.write(
            "test.yaml",
            Self.yaml(
                blue: 0, green: 1,
                extraRule: """
                          - priority: 5
                            conditions: [{pathPattern: ["/fixed"]}]
                            action: {fixedResponse: {statusCode: 200, contentType: text/plain, messageBody: new rule}}
                    """))
        // The watcher looks once a second; a loaded machine can hold its blocking pool for a while.
        let deadline = Date().addingTimeInterval(45)
        var last = ""
        while Date() < deadline {
            last = try client.request("GET", "/").text
            if last == "green" { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(last == "green", "the open connection is routed with the new weights")
        for _ in 0..<10 { #expect(try client.request("GET", "/").text == "green") }
        #expect(try client.request("GET", "/fixed").text == "new rule")
        // Every request above went over the one connection opened before the edit: nothing was dropped.
        // Without a cookie /sticky is weighted (green now); with the old one it stays on blue, weight 0 or not.
        #expect(try client.request("GET", "/sticky").text == "green")
        for _ in 0..<5 {
            let answer = try client.request("GET", "/sticky", headers: [("Cookie", cookie)])
            #expect(answer.text == "blue")
            #expect(Self.stickyCookie(answer) != nil, "every answer re-extends the cookie")
        }
        await server.shutdown()
    }
}
