import AlbatrossTestKit
import Foundation
import Testing

/// Requests a hostile client sends, through a real listener (issue 8's front-end defects, each with its regression
/// test): rules and the event must agree on the path, and the Host header must be unambiguous.
@Suite(.serialized)
struct HostileRequestTests {
    static func server(in dir: TemporaryDirectory) async throws -> ServerHarness {
        try FrontEndTests.cannedFunction(in: dir, results: ["ok": #"{"statusCode":200,"body":"function"}"#])
        let rules = """
                  - priority: 1
                    conditions: [{pathPattern: ["/admin*"]}]
                    action: {fixedResponse: {statusCode: 403, contentType: text/plain, messageBody: "forbidden"}}
            """
        return try await ServerHarness(
            yaml: FrontEndTests.yaml(
                functions: FrontEndTests.cannedFunctionYAML, targetGroups: "  - {name: canned-tg, function: canned}",
                rules: rules),
            baseDirectory: dir.path)
    }

    @Test func anAbsoluteFormTargetIsMatchedOnItsPath() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let server = try await Self.server(in: dir)
        let client = try server.client()
        try client.send("GET http://other.example/admin HTTP/1.1\r\nHost: localhost\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 403, "the /admin* rule sees /admin, the path the event would carry")
        #expect(response.text == "forbidden")
        #expect(!FileManager.default.fileExists(atPath: dir.url("canned/invocations")), "nothing was invoked")
        try client.send("GET HTTP://other.example/r/ok?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        #expect(try client.readResponse().text == "function", "other absolute-form paths still reach the function")
        await server.shutdown()
    }

    @Test func twoHostHeadersOrNoneInHTTP11AreBadRequests() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let server = try await Self.server(in: dir)
        let twice = try server.client()
        try twice.send("GET /r/ok HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n")
        let first = try twice.readResponse()
        #expect(first.status == 400)
        #expect(first.header("Server") == "awselb/2.0")
        let none = try server.client()
        try none.send("GET /r/ok HTTP/1.1\r\n\r\n")
        #expect(try none.readResponse().status == 400)
        let http10 = try server.client()
        try http10.send("GET /r/ok HTTP/1.0\r\n\r\n")
        let answered = try http10.readResponse()
        #expect(answered.status == 200, "HTTP/1.0 needs no Host header")
        #expect(answered.text == "function")
        #expect(
            (try? String(contentsOfFile: dir.url("canned/invocations"), encoding: .utf8))?.split(separator: "\n").count
                == 1, "only the HTTP/1.0 request reached the function")
        await server.shutdown()
    }

    @Test func aClientThatWritesItsWholeBodyFirstStillReads413() async throws {
        // Issue 8, item 6: the 413 used to be followed by an immediate close, so a client still writing its body
        // got ECONNRESET/EPIPE instead of the answer in 5-11 of 20 tries. Now the rest of the body is drained
        // (bounded) before the close.
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let server = try await Self.server(in: dir)
        let big = [UInt8](repeating: UInt8(ascii: "a"), count: 2 * 1_048_576)
        var statuses: [Int] = []
        for _ in 0..<20 {
            let client = try server.client()
            statuses.append(try client.request("POST", "/r/ok", body: big).status)
        }
        #expect(statuses == Array(repeating: 413, count: 20))
        #expect(!FileManager.default.fileExists(atPath: dir.url("canned/invocations")), "nothing was invoked")
        await server.shutdown()
    }
}
