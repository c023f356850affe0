import ALBEvents
import Foundation
import NIOCore
import Testing

/// The event-building rules of alb-lambda.md §1 beyond the vectors: query edge cases, header handling, the
/// forwarding headers and their attributes, the body/base64 rule.
@Suite struct EventRuleTests {
    @Test(
        arguments: [
            ("/?flag", ["flag": [""]]),
            ("/?flag=", ["flag": [""]]),
            ("/?a=b=c", ["a": ["b=c"]]),
            ("/?=v", ["": ["v"]]),
            ("/?a=1&b&a=2&&c=3", ["a": ["1", "2"], "b": [""], "c": ["3"]]),
            ("/?foo%5Ba%5D=1&foo%5Ba%5D=2", ["foo%5Ba%5D": ["1", "2"]]),
            ("/?q=a+b%20c", ["q": ["a+b%20c"]]),
            ("/?x=1#frag", ["x": ["1#frag"]]),
            ("/p?a=1?b=2", ["a": ["1?b=2"]]),
            ("/?ü=1&a=2&ü=3", ["ü": ["1", "3"], "a": ["2"]]),
            ("/?&\u{301}=x", ["\u{301}": ["x"]]),
            ("http://alb.example.com/p?k=v&k", ["k": ["v", ""]]),
        ] as [(String, [String: [String]])])
    func queryParsing(uri: String, expected: [String: [String]]) throws {
        let multi = try encodeEvent(uri: uri, options: options(multi: true))
        #expect(multi.arrayMap("multiValueQueryStringParameters") == expected)
        let single = try encodeEvent(uri: uri, options: options(multi: false))
        #expect(single.stringMap("queryStringParameters") == expected.mapValues { $0.last! })
    }

    @Test func rawNonASCIIQueryKeysSortByBytes() throws {
        let event = try encodeEvent(uri: "/?ü=1&z=2&a=3", options: options(multi: true))
        #expect(event.mapKeys("multiValueQueryStringParameters") == ["a", "z", "ü"])
    }

    @Test(arguments: [false, true])
    func healthCheckPathWithQuery(multi: Bool) throws {
        var buffer = ByteBuffer()
        ALBEventEncoder.encodeHealthCheck(path: "/health?deep=1", options: options(multi: multi), into: &buffer)
        guard case .object(let root) = try JSONParser.parse(buffer) else {
            Issue.record("not an object")
            return
        }
        #expect(root["path"] == .string("/health"))
        let query = multi ? "multiValueQueryStringParameters" : "queryStringParameters"
        let expected: JSONValue = multi ? .array([.string("1")]) : .string("1")
        #expect(root[query] == .object(JSONObject([("deep", expected)])))
    }

    @Test func mapKeysAreSortedByteWise() throws {
        let event = try encodeEvent(
            uri: "/?b=1&B=2&a=3&%C3%A9=4&_=5&Z=6",
            headers: [("Zeta", "1"), ("alpha", "2"), ("X-Custom", "3"), ("accept", "4")], options: options(multi: true))
        #expect(event.mapKeys("multiValueQueryStringParameters") == ["%C3%A9", "B", "Z", "_", "a", "b"])
        let names = event.mapKeys("multiValueHeaders")
        #expect(names == names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        #expect(names.contains("zeta") && names.contains("x-custom"))
    }

    @Test func multiValueKeepsArrivalOrderForManyValues() throws {
        let values = (0..<200).map { "v\(($0 * 7919) % 1000)" }
        var headers: [(String, String)] = []
        for (index, value) in values.enumerated() {
            headers.append(("X-Many", value))
            headers.append(("x-other-\(index % 5)", value))
        }
        let uri = "/?" + values.map { "k=\($0)&z\($0)=1" }.joined(separator: "&")
        let event = try encodeEvent(uri: uri, headers: headers, options: options(multi: true))
        #expect(event.arrayMap("multiValueHeaders")["x-many"] == values)
        #expect(event.arrayMap("multiValueQueryStringParameters")["k"] == values)
        let single = try encodeEvent(uri: uri, headers: headers, options: options(multi: false))
        #expect(single.stringMap("headers")["x-many"] == values.last)
        #expect(single.stringMap("queryStringParameters")["k"] == values.last)
    }

    @Test func pathIsRawAndAbsoluteFormIsReduced() throws {
        let cases: [(String, String)] = [
            ("/a%20b/../c//d", "/a%20b/../c//d"),
            ("http://alb.example.com/x/y?z=1", "/x/y"),
            ("HTTPS://alb.example.com", "/"),
            ("http://alb.example.com?z=1", "/"),
            ("?z=1", "/"),
            ("*", "*"),
        ]
        for (uri, path) in cases {
            let event = try encodeEvent(method: "OPTIONS", uri: uri)
            #expect(event["path"] == .string(path), "uri \(uri)")
        }
    }

    @Test func headerNamesLowerCasedValuesUntouched() throws {
        let event = try encodeEvent(
            uri: "/", headers: [("Postman-Token", "Ab, Cd"), ("USER-AGENT", "X/1 (Y; Z)"), ("x-Empty", "")])
        let headers = event.stringMap("headers")
        #expect(headers["postman-token"] == "Ab, Cd")
        #expect(headers["user-agent"] == "X/1 (Y; Z)")
        #expect(headers["x-empty"] == "")
        #expect(!event.text.contains("Postman-Token"))
    }

    @Test func escapingInStringsRoundTrips() throws {
        let nasty = "quote\" back\\slash \u{01}\u{1F} tab\t nl\n é 💥 \u{2028}"
        let arn = try encodeEvent(uri: "/", options: ALBEventOptions(targetGroupArn: "arn:\"tg\""))
        #expect(arn.text.hasPrefix(#"{"requestContext":{"elb":{"targetGroupArn":"arn:\"tg\""}},"#))
        var headersWithType = [("X-Nasty", nasty), ("Content-Type", "text/plain; charset=utf-8")]
        headersWithType.append(("Host", "h"))
        let text = try encodeEvent(method: "POST", uri: "/p\"q?k\"=v\\", headers: headersWithType, body: bytes(nasty))
        #expect(text.stringMap("headers")["x-nasty"] == nasty)
        #expect(text.body == nasty)
        #expect(text.isBase64Encoded == false)
        #expect(text["path"] == .string("/p\"q"))
        #expect(text.stringMap("queryStringParameters") == ["k\"": "v\\"])
        #expect(text.text.contains(#"quote\" back\\slash \u0001\u001f tab\t nl\n é 💥"#))
    }

    // MARK: - Forwarding headers

    @Test(
        arguments: [
            // (mode, client port attr, client address, incoming XFF lines, expected values)
            (XFFMode.append, false, "203.0.113.10", [], ["203.0.113.10"]),
            (.append, true, "203.0.113.10", [], ["203.0.113.10:50123"]),
            (.append, false, "2001:db8::1", [], ["2001:db8::1"]),
            (.append, true, "2001:db8::1", [], ["[2001:db8::1]:50123"]),
            (.append, true, "::1", ["10.0.0.1"], ["10.0.0.1, [::1]:50123"]),
            (.append, false, "::ffff:203.0.113.10", [], ["203.0.113.10"]),
            (
                .append, false, "203.0.113.10", ["198.51.100.7", " 10.0.0.1, 10.0.0.2 "],
                ["198.51.100.7, 10.0.0.1, 10.0.0.2, 203.0.113.10"]
            ),
            (.append, false, "203.0.113.10", [""], ["203.0.113.10"]),
            (.preserve, true, "203.0.113.10", [], []),
            (.preserve, false, "203.0.113.10", ["198.51.100.7"], ["198.51.100.7"]),
            (.preserve, false, "203.0.113.10", ["1.1.1.1", "2.2.2.2"], ["1.1.1.1", "2.2.2.2"]),
            (.remove, true, "203.0.113.10", ["198.51.100.7"], []),
        ] as [(XFFMode, Bool, String, [String], [String])])
    func forwardedFor(mode: XFFMode, clientPort: Bool, client: String, incoming: [String], expected: [String]) throws {
        let headers = incoming.map { ("X-Forwarded-For", $0) }
        let info = connection(client: client)
        let multi = try encodeEvent(
            uri: "/", headers: headers, options: options(multi: true, xff: mode, xffClientPort: clientPort),
            connection: info)
        #expect(multi.arrayMap("multiValueHeaders")["x-forwarded-for"] == (expected.isEmpty ? nil : expected))
        let single = try encodeEvent(
            uri: "/", headers: headers, options: options(multi: false, xff: mode, xffClientPort: clientPort),
            connection: info)
        #expect(single.stringMap("headers")["x-forwarded-for"] == expected.last)
    }

    @Test func clientSuppliedProtoAndPortAreReplaced() throws {
        let event = try encodeEvent(
            uri: "/",
            headers: [("X-Forwarded-Proto", "https"), ("X-Forwarded-Port", "1"), ("x-forwarded-proto", "ftp")],
            options: options(multi: true), connection: connection(port: 8080))
        let headers = event.arrayMap("multiValueHeaders")
        #expect(headers["x-forwarded-proto"] == ["http"])
        #expect(headers["x-forwarded-port"] == ["8080"])
    }

    @Test(
        arguments: [
            // (host, listener port, https, preserve, expected)
            ("www.amazon.com", 8443, true, false, "www.amazon.com:8443"),
            ("www.amazon.com", 8443, true, true, "www.amazon.com"),
            ("alb.example.com", 80, false, false, "alb.example.com"),
            ("alb.example.com", 443, true, false, "alb.example.com"),
            ("alb.example.com", 443, false, false, "alb.example.com:443"),
            ("alb.example.com", 80, true, false, "alb.example.com:80"),
            ("alb.example.com:9000", 8080, false, false, "alb.example.com:9000"),
            ("[::1]", 8080, false, false, "[::1]:8080"),
            ("[::1]:8080", 8080, false, false, "[::1]:8080"),
            ("", 8080, false, false, ""),
        ] as [(String, Int, Bool, Bool, String)])
    func hostPortRule(host: String, port: Int, https: Bool, preserve: Bool, expected: String) throws {
        let event = try encodeEvent(
            uri: "/", headers: [("Host", host)], options: options(preserveHost: preserve),
            connection: connection(port: port, https: https))
        #expect(event.stringMap("headers")["host"] == expected)
    }

    @Test func noHostHeaderStaysAbsent() throws {
        let event = try encodeEvent(uri: "/", connection: connection(port: 8080))
        #expect(event.stringMap("headers")["host"] == nil)
    }

    @Test(arguments: [false, true])
    func dropInvalidHeaderFields(drop: Bool) throws {
        let headers = [("X_Under", "1"), ("X-Good-1", "2"), ("x.dot", "3"), ("X-Forwarded_For", "4")]
        let event = try encodeEvent(uri: "/", headers: headers, options: options(dropInvalid: drop))
        let map = event.stringMap("headers")
        #expect(map["x-good-1"] == "2")
        #expect((map["x_under"] != nil) == !drop)
        #expect((map["x.dot"] != nil) == !drop)
        #expect((map["x-forwarded_for"] != nil) == !drop)
    }

    @Test(arguments: [
        // (attribute, https, expect headers)
        (true, true, true), (true, false, false), (false, true, false),
    ])
    func tlsHeaders(enabled: Bool, https: Bool, expectHeaders: Bool) throws {
        let info = connection(
            port: https ? 443 : 80, https: https, tlsProtocol: "TLSv1.3", tlsCipherSuite: "TLS_AES_128_GCM_SHA256")
        let event = try encodeEvent(
            uri: "/", headers: [("X-Amzn-Tls-Version", "spoofed")], options: options(multi: true, tls: enabled),
            connection: info)
        let headers = event.arrayMap("multiValueHeaders")
        if expectHeaders {
            #expect(headers["x-amzn-tls-version"] == ["TLSv1.3"])
            #expect(headers["x-amzn-tls-cipher-suite"] == ["TLS_AES_128_GCM_SHA256"])
        } else {
            #expect(headers["x-amzn-tls-version"] == ["spoofed"])
            #expect(headers["x-amzn-tls-cipher-suite"] == nil)
        }
    }

    // MARK: - Trace id

    @Test func traceWithoutIncomingHeaderIsFreshRoot() throws {
        let event = try encodeEvent(uri: "/", now: 0x6000_0001)
        #expect(isFreshRoot(event.trace))
        #expect(event.trace.hasPrefix("Root=1-60000001-"))
        #expect(event.stringMap("headers")["x-amzn-trace-id"] == event.trace)
        let again = try encodeEvent(uri: "/", now: 0x6000_0001, seed: 43)
        #expect(again.trace != event.trace)
    }

    @Test(arguments: [
        // (incoming, expected pattern after "Self=<id>;" or the whole value)
        ("Root=1-67891233-abcdef012345678912345678", "Self=*;Root=1-67891233-abcdef012345678912345678"),
        (
            "Root=1-67891233-abcdef012345678912345678;CalledFrom=app",
            "Self=*;Root=1-67891233-abcdef012345678912345678;CalledFrom=app"
        ),
        (
            "Self=1-11111111-222222222222222222222222;Root=1-67891233-abcdef012345678912345678;Sampled=1",
            "Self=*;Root=1-67891233-abcdef012345678912345678;Sampled=1"
        ),
        (
            "CalledFrom=app; Root=1-67891233-abcdef012345678912345678",
            "Self=*;CalledFrom=app;Root=1-67891233-abcdef012345678912345678"
        ),
        ("CalledFrom=app", "Root=*;CalledFrom=app"),
        ("Root=garbage;CalledFrom=app", "Root=*;CalledFrom=app"),
        ("", "Root=*"),
    ])
    func traceRules(incoming: String, pattern: String) throws {
        let event = try encodeEvent(uri: "/", headers: [("X-Amzn-Trace-Id", incoming)], now: 0x5BDB_40CA)
        let fresh = try #require(event.trace.firstMatch(of: /1-5bdb40ca-[0-9a-f]{24}/)).output
        #expect(event.trace == pattern.replacingOccurrences(of: "*", with: String(fresh)))
        #expect(event.stringMap("headers")["x-amzn-trace-id"] == event.trace)
    }

    @Test func traceOversizeHeadersGetFreshRoot() throws {
        let incoming = ("X-Amzn-Trace-Id", "Root=1-67891233-abcdef012345678912345678;CalledFrom=app")
        // 7 KiB of header lines (name + ": " + value + CRLF) is still fine; one byte more is not.
        let filler = ALBTraceHeader.oversizeThreshold - (incoming.0.count + incoming.1.count + 4) - ("X-Fill".count + 4)
        let atLimit = try encodeEvent(
            uri: "/", headers: [incoming, ("X-Fill", String(repeating: "a", count: filler))])
        #expect(atLimit.trace.hasPrefix("Self="))
        let over = try encodeEvent(
            uri: "/", headers: [incoming, ("X-Fill", String(repeating: "a", count: filler + 1))],
            options: options(multi: true))
        #expect(isFreshRoot(over.trace))
        #expect(!over.trace.contains("67891233"))
        #expect(over.arrayMap("multiValueHeaders")["x-amzn-trace-id"] == [over.trace])
    }

    // MARK: - Body

    @Test(
        arguments: [
            // (content-type, content-encoding, base64 expected)
            ("text/plain", nil, false),
            ("TEXT/HTML; charset=ISO-8859-1", nil, false),
            ("text/csv", nil, false),
            ("application/json", nil, false),
            ("application/json; charset=utf-8", nil, false),
            (" Application/JSON ;charset=utf-8", nil, false),
            ("application/javascript", nil, false),
            ("application/xml", nil, false),
            ("application/json", "gzip", true),
            ("text/plain", "identity", true),
            ("text/plain", "", true),
            ("application/x-www-form-urlencoded", nil, true),
            ("application/vnd.api+json", nil, true),
            ("application/ld+json", nil, true),
            ("application/xhtml+xml", nil, true),
            ("application/octet-stream", nil, true),
            ("image/png", nil, true),
            ("multipart/form-data; boundary=x", nil, true),
            ("", nil, true),
            (nil, nil, true),
        ] as [(String?, String?, Bool)])
    func base64Rule(contentType: String?, encoding: String?, base64: Bool) throws {
        var headers: [(String, String)] = []
        if let contentType { headers.append(("Content-Type", contentType)) }
        if let encoding { headers.append(("Content-Encoding", encoding)) }
        let payload = "héllo {\"x\":1}"
        let event = try encodeEvent(method: "POST", uri: "/", headers: headers, body: bytes(payload))
        #expect(event.isBase64Encoded == base64)
        #expect(event.body == (base64 ? ALBBase64.encode(bytes(payload)) : payload))
        // An empty body is "" and never base64, whatever the type.
        let empty = try encodeEvent(method: "POST", uri: "/", headers: headers, body: [])
        #expect(empty.body == "")
        #expect(empty.isBase64Encoded == false)
    }

    @Test func lastContentTypeWins() throws {
        let event = try encodeEvent(
            method: "POST", uri: "/", headers: [("Content-Type", "image/png"), ("content-type", "text/plain")],
            body: bytes("hi"))
        #expect(event.isBase64Encoded == false)
    }

    @Test(
        arguments: [[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0x61, 0xE2, 0x82], [0xF4, 0x90, 0x80, 0x80]] as [[UInt8]]
    )
    func textBodyMustBeUTF8(body: [UInt8]) throws {
        let head = ALBRequestHead(
            method: "POST", uri: "/", headers: [(name: "Content-Type", value: "application/json")])
        var random = SeededGenerator(seed: 1)
        var buffer = ByteBufferAllocator().buffer(capacity: 0)
        buffer.writeString("keep")
        do {
            _ = try ALBEventEncoder.encode(
                head: head, body: ByteBuffer(bytes: body), connection: connection(), options: options(), now: 0,
                random: &random, into: &buffer)
            Issue.record("accepted an invalid UTF-8 text body")
        } catch {
            #expect(error.status == 502)
            #expect(error.reason == "LambdaBadRequest")
        }
        #expect(String(buffer: buffer) == "keep")
        // The same bytes with a binary type are fine.
        let binary = try encodeEvent(method: "POST", uri: "/", headers: [("Content-Type", "image/x")], body: body)
        #expect(ALBBase64.decode(binary.body ?? "") == body)
    }

    /// NIO's parser decodes header bytes that are not UTF-8 as U+FFFD; at any offset (inside or after the
    /// eight-byte ASCII stride) the encoder refuses them with 502 LambdaBadRequest and writes nothing.
    @Test(arguments: [0, 3, 7, 8, 9, 16, 40])
    func aHeaderValueHoldingTheReplacementCharacterIs502LambdaBadRequest(offset: Int) throws {
        let value = String(repeating: "a", count: offset) + "\u{FFFD}" + "tail"
        let head = ALBRequestHead(
            method: "GET", uri: "/", headers: [(name: "Host", value: "h"), (name: "X-Bytes", value: value)])
        var random = SeededGenerator(seed: 1)
        var buffer = ByteBufferAllocator().buffer(capacity: 0)
        do {
            _ = try ALBEventEncoder.encode(
                head: head, body: nil, connection: connection(), options: options(), now: 0, random: &random,
                into: &buffer)
            Issue.record("accepted a header value holding U+FFFD")
        } catch {
            #expect(error.status == 502)
            #expect(error.reason == "LambdaBadRequest")
        }
        #expect(buffer.readableBytes == 0)
        let fine = try encodeEvent(
            method: "GET", uri: "/", headers: [("X-Text", String(repeating: "a", count: offset) + "\u{E9}\u{1F600}")])
        #expect(fine.stringMap("headers")["x-text"] == String(repeating: "a", count: offset) + "\u{E9}\u{1F600}")
    }
}
