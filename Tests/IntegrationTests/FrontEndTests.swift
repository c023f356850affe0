import AlbatrossTestKit
import Foundation
import Testing

/// The whole path through real sockets and real runtimes: client → listener → rules → target group →
/// execution environment → ALB response.
@Suite(.serialized)
struct FrontEndTests {
    /// A bash function whose result is chosen by the request path `/r/<name>`: the file `results/<name>` of its
    /// code directory, printed as it is. Every invoke appends a line to `invocations`.
    @discardableResult
    static func cannedFunction(in dir: TemporaryDirectory, results: [String: String]) throws -> String {
        for (name, text) in results { try dir.write("canned/results/\(name)", text) }
        let handler = #"""
            echo "invoked" >> "$LAMBDA_TASK_ROOT/invocations"
            NAME=$(printf '%s' "$1" | sed -n 's/.*"path":"\/r\/\([A-Za-z0-9_-]*\)".*/\1/p')
            case "$NAME" in
              sleep) sleep 1.5; NAME=ok ;;
              crash) exit 7 ;;
              hang) sleep 30 ;;
            esac
            cat "$LAMBDA_TASK_ROOT/results/$NAME" 2>/dev/null || printf '{"statusCode":404,"body":"no result %s"}' "$NAME"
            """#
        return try TestFunctions.writeBash(in: dir, name: "canned", handler: handler)
    }

    static func yaml(
        functions: String, targetGroups: String, rules: String = "", defaultAction: String = "{forward: canned-tg}"
    ) -> String {
        """
        dataDirectory: ./data
        environments:
          pythonInterpreter: \(PackagePaths.venvPython)
        functions:
        \(functions)
        targetGroups:
        \(targetGroups)
        listeners:
          - port: 0
            defaultAction: \(defaultAction)
        \(rules.isEmpty ? "" : "    rules:\n" + rules)
        """
    }

    /// The timeout leaves the 1.5 s `sleep` result 2.5 s of slack: on a loaded machine a bash runtime's own work
    /// (curl, cat) took over 0.5 s, and the throttling check then saw timeouts where it expected successes.
    static let cannedFunctionYAML = """
          - {name: canned, runtime: provided.al2023, handler: h, code: ./canned, timeout: 4, maximumConcurrency: 2}
        """

    @Test func secondRequestIsServedWarmBySameEnvironmentOnAKeepAliveConnection() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.cannedFunction(in: dir, results: [:])
        let pidHandler =
            #"printf '{"statusCode":200,"headers":{"x-pid":"%s","x-stream":"%s"},"body":"hi"}' "$$" "$AWS_LAMBDA_LOG_STREAM_NAME""#
        try TestFunctions.writeBash(in: dir, name: "pid", handler: pidHandler)
        let server = try await ServerHarness(
            yaml: Self.yaml(
                functions: "  - {name: pid, runtime: provided.al2023, handler: h, code: ./pid}",
                targetGroups: "  - {name: pid-tg, function: pid}", defaultAction: "{forward: pid-tg}"),
            baseDirectory: dir.path)
        let client = try server.client()
        let first = try client.request("GET", "/a")
        let second = try client.request("GET", "/b")
        await server.shutdown()
        #expect(first.status == 200 && second.status == 200)
        #expect(first.text == "hi")
        #expect(first.header("Server") == "awselb/2.0")
        #expect(first.header("Content-Type") == "application/octet-stream", "ALB's default content type")
        #expect(first.header("x-pid") != nil)
        #expect(first.header("x-pid") == second.header("x-pid"), "the same environment served both")
        #expect(first.header("x-stream") == second.header("x-stream"))
    }

    @Test func sampleEchoFunctionShowsTheEventInBothModes() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let echo = "\(PackagePaths.root)/config/functions/echo"
        let server = try await ServerHarness(
            yaml: Self.yaml(
                functions: "  - {name: echo, runtime: provided.al2023, handler: echo.handler, code: \(echo)}",
                targetGroups: """
                      - {name: single, function: echo}
                      - {name: multi, function: echo, multiValueHeaders: true}
                    """,
                rules: """
                          - priority: 1
                            conditions: [{pathPattern: ["/multi/*"]}]
                            action: {forward: multi}
                    """,
                defaultAction: "{forward: single}"),
            baseDirectory: dir.path)
        let client = try server.client()
        let single = try client.request(
            "GET", "/single/p%C2%A5th?a=%20b&a=c%2Fd&flag", headers: [("Cookie", "x=1"), ("Cookie", "y=2")])
        let multi = try client.request(
            "POST", "/multi/x?a=1&a=2",
            headers: [("Content-Type", "application/json"), ("X-Forwarded-For", "198.51.100.7")],
            body: Array(#"{"alpha":"bravo"}"#.utf8))
        let none = try client.request("GET", "/plain")
        await server.shutdown()
        #expect(single.status == 200)
        let s = try JSONSerialization.jsonObject(with: Data(single.body)) as! [String: Any]
        #expect(s["path"] as? String == "/single/p%C2%A5th")
        #expect(s["queryStringParameters"] as? [String: String] == ["a": "c%2Fd", "flag": ""])
        #expect(s["multiValueQueryStringParameters"] == nil)
        let headers = s["headers"] as? [String: String] ?? [:]
        #expect(headers["cookie"] == "y=2", "last value wins in single-value mode")
        #expect(headers["x-forwarded-for"] == "127.0.0.1")
        #expect(headers["x-forwarded-proto"] == "http")
        #expect(headers["x-forwarded-port"] == String(server.port))
        #expect(headers["host"] == "localhost:\(server.port)", "listener port appended on a non-standard port")
        #expect(headers["x-amzn-trace-id"]?.wholeMatch(of: #/Root=1-[0-9a-f]{8}-[0-9a-f]{24}/#) != nil)
        #expect(s["body"] as? String == "" && s["isBase64Encoded"] as? Bool == false)
        let requestContext = s["requestContext"] as? [String: [String: String]]
        #expect(
            requestContext?["elb"]?["targetGroupArn"]?.hasSuffix(
                ":targetgroup/single/"
                    + (requestContext?["elb"]?["targetGroupArn"]?.split(separator: "/").last.map(String.init) ?? ""))
                == true)

        #expect(multi.status == 200)
        #expect(multi.header("X-Greeting") == "hello", "multi-value mode reads multiValueHeaders")
        let m = try JSONSerialization.jsonObject(with: Data(multi.body)) as! [String: Any]
        #expect(m["multiValueQueryStringParameters"] as? [String: [String]] == ["a": ["1", "2"]])
        #expect(m["queryStringParameters"] == nil && m["headers"] == nil)
        let mh = m["multiValueHeaders"] as? [String: [String]] ?? [:]
        #expect(mh["x-forwarded-for"] == ["198.51.100.7, 127.0.0.1"])
        #expect(m["body"] as? String == #"{"alpha":"bravo"}"#)
        #expect(m["isBase64Encoded"] as? Bool == false)
        let n = try JSONSerialization.jsonObject(with: Data(none.body)) as! [String: Any]
        #expect(n["queryStringParameters"] as? [String: String] == [:], "{} for no query")
    }

    @Test(arguments: [
        ("notjson", "hello"),
        ("array", "[1,2]"),
        ("empty", "{}"),
        ("stringstatus", #"{"statusCode":"200"}"#),
        ("nullbody", #"{"statusCode":200,"body":null}"#),
        ("numberheader", #"{"statusCode":200,"headers":{"Content-Length":5}}"#),
        ("badbase64", #"{"statusCode":200,"isBase64Encoded":true,"body":"not base64!"}"#),
        ("nullheaders", #"{"statusCode":200,"headers":null}"#),
    ])
    func malformedResultsAre502(name: String, result: String) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.cannedFunction(in: dir, results: [name: result])
        let server = try await ServerHarness(
            yaml: Self.yaml(
                functions: Self.cannedFunctionYAML, targetGroups: "  - {name: canned-tg, function: canned}"),
            baseDirectory: dir.path)
        let response = try server.client().request("GET", "/r/\(name)")
        await server.shutdown()
        #expect(response.status == 502, "\(name)")
        #expect(response.text.contains("<h1>502 Bad Gateway</h1>"))
        #expect(response.header("Content-Type") == "text/html")
        #expect(response.header("Server") == "awselb/2.0")
    }

    @Test func functionFailuresThrottlingAndLimitsMapToALBStatuses() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.cannedFunction(
            in: dir,
            results: [
                "ok":
                    #"{"statusCode":201,"statusDescription":"201 Created","headers":{"content-type":"text/plain","connection":"x","transfer-encoding":"chunked"},"body":"made"}"#,
                "binary":
                    #"{"statusCode":200,"isBase64Encoded":true,"headers":{"Content-Type":"image/gif"},"body":"R0lGODdhAQABAIABAP8AAAAAACwAAAAAAQABAAACAkQBADs="}"#,
            ])
        let server = try await ServerHarness(
            yaml: Self.yaml(
                functions: Self.cannedFunctionYAML, targetGroups: "  - {name: canned-tg, function: canned}"),
            baseDirectory: dir.path)
        let client = try server.client()
        let ok = try client.request("GET", "/r/ok")
        #expect(ok.status == 201 && ok.reason == "Created" && ok.text == "made")
        #expect(ok.header("connection") == "keep-alive", "hop-by-hop headers from the function are dropped")
        #expect(ok.header("transfer-encoding") == nil)
        let gif = try client.request("GET", "/r/binary")
        #expect(gif.status == 200 && gif.body.count == 35 && Array(gif.body.prefix(6)) == Array("GIF87a".utf8))
        let head = try client.request("HEAD", "/r/ok")
        #expect(head.status == 201 && head.header("Content-Length") == "4")
        #expect(try client.request("GET", "/r/crash").status == 502, "runtime crash")
        #expect(try client.request("GET", "/r/hang").status == 502, "timeout")
        #expect(try client.request("GET", "/r/ok").status == 201, "a fresh environment replaced the broken ones")
        #expect(try client.request("TRACE", "/r/ok").status == 405)
        let upgrade = try client.request(
            "GET", "/r/ok", headers: [("Connection", "Upgrade"), ("Upgrade", "websocket")])
        #expect(upgrade.status == 400)

        // Throttling: two environments at most, three slow requests at once.
        let statuses = try await onThreads(3) { _ in try server.client().request("GET", "/r/sleep").status }
        #expect(statuses.sorted() == [201, 201, 502])
        await server.shutdown()
    }

    @Test func oversizeBodyIs413AndTheFunctionIsNotInvoked() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.cannedFunction(in: dir, results: ["ok": #"{"statusCode":200,"body":"fine"}"#])
        let server = try await ServerHarness(
            yaml: Self.yaml(
                functions: Self.cannedFunctionYAML, targetGroups: "  - {name: canned-tg, function: canned}"),
            baseDirectory: dir.path)
        let big = [UInt8](repeating: UInt8(ascii: "a"), count: 1_048_577)
        let tooLarge = try server.client().request(
            "POST", "/r/ok", headers: [("Content-Type", "text/plain")], body: big)
        // The same without Content-Length up front: chunked.
        let chunkedClient = try server.client()
        var chunked = "POST /r/ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        for _ in 0..<17 { chunked += String(65536, radix: 16) + "\r\n" + String(repeating: "b", count: 65536) + "\r\n" }
        chunked += "0\r\n\r\n"
        try? chunkedClient.send(chunked)
        let chunkedResponse = try chunkedClient.readResponse()
        let small = try server.client().request(
            "POST", "/r/ok", headers: [("Content-Type", "text/plain")], body: [UInt8](repeating: 97, count: 100_000))
        await server.shutdown()
        #expect(tooLarge.status == 413)
        #expect(chunkedResponse.status == 413)
        #expect(small.status == 200)
        let invocations = (try? String(contentsOfFile: dir.url("canned/invocations"), encoding: .utf8)) ?? ""
        #expect(invocations.split(separator: "\n").count == 1, "only the small request reached the function")
    }

    @Test func rulesFixedResponsesAndRedirects() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.cannedFunction(in: dir, results: ["ok": #"{"statusCode":200,"body":"function"}"#])
        let rules = """
                  - priority: 5
                    conditions: [{pathPattern: ["/health"]}, {httpRequestMethod: [GET]}]
                    action: {fixedResponse: {statusCode: 200, contentType: text/plain, messageBody: "healthy"}}
                  - priority: 6
                    conditions: [{hostHeader: ["*.example.com"]}]
                    action: {fixedResponse: {statusCode: 404, contentType: application/json, messageBody: '{"e":1}'}}
                  - priority: 7
                    conditions: [{pathPattern: ["/old/*"]}]
                    action: {redirect: {protocol: HTTPS, port: "443", host: "#{host}", path: "/new/#{path}", query: "#{query}&x=1", statusCode: HTTP_301}}
            """
        let server = try await ServerHarness(
            yaml: Self.yaml(
                functions: Self.cannedFunctionYAML, targetGroups: "  - {name: canned-tg, function: canned}",
                rules: rules),
            baseDirectory: dir.path)
        let client = try server.client()
        let health = try client.request("GET", "/health")
        let healthPost = try client.request("POST", "/health")
        let host = try client.request("GET", "/r/ok", host: "api.example.com")
        let redirect = try client.request("GET", "/old/a/b?q=1", host: "site.test:\(server.port)")
        let unmatched = try client.request("GET", "/r/ok")
        await server.shutdown()
        #expect(health.status == 200 && health.text == "healthy" && health.header("Content-Type") == "text/plain")
        #expect(
            healthPost.status == 404,
            "method condition not met: falls through to the function, which has no 'health' result")
        #expect(host.status == 404 && host.text == #"{"e":1}"#)
        #expect(redirect.status == 301)
        #expect(redirect.header("Location") == "https://site.test:443/new/old/a/b?q=1&x=1")
        #expect(unmatched.text == "function")
    }

    @Test func targetGroupWithoutATargetIs503() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.cannedFunction(in: dir, results: [:])
        let server = try await ServerHarness(
            yaml: Self.yaml(
                functions: Self.cannedFunctionYAML,
                targetGroups: "  - {name: canned-tg, function: canned}\n  - {name: empty-tg}",
                defaultAction: "{forward: empty-tg}"),
            baseDirectory: dir.path)
        let response = try server.client().request("GET", "/")
        await server.shutdown()
        #expect(response.status == 503)
        #expect(
            response.text.contains("503 Service Temporarily Unavailable")
                || response.text.contains("503 Service Unavailable"))
    }

    @Test func expectContinueIsAnsweredBeforeTheBodyIsSent() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.cannedFunction(in: dir, results: ["ok": #"{"statusCode":200,"body":"got it"}"#])
        let server = try await ServerHarness(
            yaml: Self.yaml(
                functions: Self.cannedFunctionYAML, targetGroups: "  - {name: canned-tg, function: canned}"),
            baseDirectory: dir.path)
        let client = try server.client(timeout: 5)
        try client.send("POST /r/ok HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        let interim = try client.readResponse(forHead: true)
        try client.send("body")
        let final = try client.readResponse()
        await server.shutdown()
        #expect(interim.status == 100)
        #expect(final.status == 200 && final.text == "got it")
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.cannedFunction(
            in: dir, results: ["one": #"{"statusCode":200,"body":"1"}"#, "two": #"{"statusCode":200,"body":"2"}"#])
        let server = try await ServerHarness(
            yaml: Self.yaml(
                functions: Self.cannedFunctionYAML, targetGroups: "  - {name: canned-tg, function: canned}"),
            baseDirectory: dir.path)
        let client = try server.client()
        try client.send("GET /r/one HTTP/1.1\r\nHost: a\r\n\r\nGET /r/two HTTP/1.1\r\nHost: a\r\n\r\n")
        let first = try client.readResponse()
        let second = try client.readResponse()
        await server.shutdown()
        #expect(first.text == "1" && second.text == "2")
    }

    @Test func pythonFunctionsRunUnderAwslambdaric() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let sample = "\(PackagePaths.root)/config/functions/hello-python"
        try dir.write(
            "py/app.py",
            """
            def fail(event, context):
                raise ValueError("no good")
            """)
        try dir.write("badimport/app.py", "import not_a_module_xyz\ndef handler(e, c):\n    return {}\n")
        let server = try await ServerHarness(
            yaml: Self.yaml(
                functions: """
                      - {name: hello, runtime: python3.11, handler: app.handler, code: \(sample)}
                      - {name: fail, runtime: python3.11, handler: app.fail, code: ./py}
                      - {name: badimport, runtime: python3.11, handler: app.handler, code: ./badimport}
                    """,
                targetGroups: """
                      - {name: hello-tg, function: hello, multiValueHeaders: true}
                      - {name: fail-tg, function: fail}
                      - {name: badimport-tg, function: badimport}
                    """,
                rules: """
                          - priority: 1
                            conditions: [{pathPattern: ["/fail"]}]
                            action: {forward: fail-tg}
                          - priority: 2
                            conditions: [{pathPattern: ["/badimport"]}]
                            action: {forward: badimport-tg}
                    """,
                defaultAction: "{forward: hello-tg}"),
            baseDirectory: dir.path)
        let client = try server.client()
        let first = try client.request("GET", "/hi?name=Ada")
        let second = try client.request("GET", "/hi?name=Bob")
        let failed = try client.request("GET", "/fail")
        let badImport = try client.request("GET", "/badimport")
        await server.shutdown()
        #expect(first.status == 200 && first.header("Content-Type") == "application/json")
        let a = try JSONSerialization.jsonObject(with: Data(first.body)) as? [String: Any]
        let b = try JSONSerialization.jsonObject(with: Data(second.body)) as? [String: Any]
        #expect(a?["message"] as? String == "Hello, Ada!")
        #expect(b?["invocationsInThisEnvironment"] as? Int == 2, "the warm environment kept its module state")
        #expect(a?["environment"] as? String == b?["environment"] as? String)
        #expect(failed.status == 502)
        #expect(badImport.status == 502)
    }
}
