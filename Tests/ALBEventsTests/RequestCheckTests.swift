import ALBEvents
import Testing

/// The answers ALB gives before invoking (alb-lambda.md §1.5, §1.6, §3).
@Suite struct RequestCheckTests {
    static func check(
        method: String = "GET", uri: String = "/", headers: [(String, String)] = [], requestLineLength: Int? = nil,
        maxBody: Int = 1_048_576, requiresHost: Bool = false
    ) -> ALBRejection? {
        let head = ALBRequestHead(
            method: method, uri: uri, headers: headers.map { (name: $0.0, value: $0.1) },
            requestLineLength: requestLineLength, requiresHost: requiresHost)
        return ALBRequestCheck.rejection(for: head, options: options(maxBody: maxBody))
    }

    static let xff30 = (1...30).map { "10.0.0.\($0)" }.joined(separator: ", ")
    static let xff31 = (1...31).map { "10.0.0.\($0)" }.joined(separator: ",")

    @Test(
        arguments: [
            // (name, method, headers, request line length, expected status, expected reason)
            ("plain GET", "GET", [("Host", "a")], nil, nil, nil),
            ("TRACE", "TRACE", [], nil, 405, "-"),
            ("CONNECT is refused as TRACE", "CONNECT", [("Host", "a:443")], nil, 405, "-"),
            ("lower-case trace is just another method", "trace", [], nil, nil, nil),
            (
                "websocket", "GET", [("Connection", "Upgrade"), ("Upgrade", "websocket")], nil, 400,
                "LambdaWebsocketNotSupported"
            ),
            (
                "WebSocket in a list", "GET", [("upgrade", "foo/1, WebSocket/13")], nil, 400,
                "LambdaWebsocketNotSupported"
            ),
            ("h2c upgrade passes", "GET", [("Upgrade", "h2c")], nil, nil, nil),
            ("chunked", "POST", [("Transfer-Encoding", "chunked")], nil, nil, nil),
            ("identity, chunked", "POST", [("Transfer-Encoding", "identity, Chunked")], nil, nil, nil),
            ("gzip, chunked", "POST", [("Transfer-Encoding", "gzip, chunked")], nil, 501, "-"),
            ("compress", "POST", [("transfer-encoding", "compress")], nil, 501, "-"),
            ("request line at 16 KiB", "GET", [], 16_384, nil, nil),
            ("request line over 16 KiB", "GET", [], 16_385, 400, "-"),
            ("header line at 16 KiB", "GET", [("X-Big", String(repeating: "a", count: 16_384 - 7))], nil, nil, nil),
            ("header line over 16 KiB", "GET", [("X-Big", String(repeating: "a", count: 16_384 - 6))], nil, 400, "-"),
            (
                "headers over 64 KiB", "GET",
                (0..<5).map { ("X-Big-\($0)", String(repeating: "a", count: 14_000)) }, nil, 400, "-"
            ),
            (
                "headers under 64 KiB", "GET",
                (0..<4).map { ("X-Big-\($0)", String(repeating: "a", count: 16_000)) }, nil, nil, nil
            ),
            ("30 XFF addresses", "GET", [("X-Forwarded-For", xff30)], nil, nil, nil),
            ("31 XFF addresses", "GET", [("X-Forwarded-For", xff31)], nil, 463, "-"),
            (
                "31 XFF addresses over two lines", "GET",
                [("X-Forwarded-For", xff30), ("x-forwarded-for", "10.1.1.1")], nil, 463, "-"
            ),
            ("Content-Length at the limit", "POST", [("Content-Length", "1048576")], nil, nil, nil),
            (
                "Content-Length over the limit", "POST", [("Content-Length", "1048577")], nil, 413,
                "LambdaRequestTooLarge"
            ),
            (
                "huge Content-Length", "POST", [("content-length", "99999999999999999999999")], nil, 413,
                "LambdaRequestTooLarge"
            ),
            ("malformed Content-Length is the HTTP layer's", "POST", [("Content-Length", "12x")], nil, nil, nil),
        ] as [(String, String, [(String, String)], Int?, Int?, String?)])
    func rejection(
        name: String, method: String, headers: [(String, String)], lineLength: Int?, status: Int?, reason: String?
    ) {
        let rejection = Self.check(method: method, headers: headers, requestLineLength: lineLength)
        #expect(rejection?.status == status, "\(name): \(rejection?.description ?? "nil")")
        #expect(rejection?.reason == reason, "\(name)")
        if let rejection { #expect(!rejection.message.isEmpty) }
    }

    @Test func hostHeaderRules() {
        #expect(Self.check(headers: [("Host", "a")], requiresHost: true) == nil)
        #expect(Self.check(headers: [], requiresHost: false) == nil, "HTTP/1.0 needs no Host")
        let missing = Self.check(headers: [], requiresHost: true)
        #expect(missing?.status == 400)
        #expect(missing?.message.contains("Host") == true)
        let twice = Self.check(headers: [("Host", "a"), ("host", "b")], requiresHost: false)
        #expect(twice?.status == 400, "two Host headers are refused even in HTTP/1.0")
        #expect(twice?.message == "the request has 2 Host headers")
    }

    @Test(arguments: [
        ("/admin?x=1", "/admin?x=1"), ("http://other.example/admin", "/admin"),
        ("HTTPS://other.example:8443/a/b?q", "/a/b?q"), ("http://other.example", ""),
        ("http://other.example?x", "?x"), ("/http://x/y", "/http://x/y"),
    ])
    func originFormMatchesTheEventsPath(target: String, origin: String) {
        #expect(ALBRequestHead.originForm(of: target) == Substring(origin))
    }

    @Test func configuredBodyLimit() {
        #expect(Self.check(method: "POST", headers: [("Content-Length", "11")], maxBody: 10)?.status == 413)
        #expect(Self.check(method: "POST", headers: [("Content-Length", "10")], maxBody: 10) == nil)
    }

    @Test func sizeLimitsComeFirst() {
        let rejection = Self.check(method: "TRACE", requestLineLength: 20_000)
        #expect(rejection?.status == 400)
    }

    @Test func defaultRequestLineLengthIsComputed() {
        let head = ALBRequestHead(method: "GET", uri: "/abc", headers: [])
        #expect(head.requestLineLength == "GET /abc HTTP/1.1".utf8.count)
    }
}
