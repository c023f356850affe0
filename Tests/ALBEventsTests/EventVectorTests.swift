import ALBEvents
import Foundation
import NIOCore
import Testing

/// The request vectors RQ1–RQ11 of alb-lambda.md §6, in both modes.
@Suite struct EventVectorTests {
    static let singleKeys = [
        "requestContext", "httpMethod", "path", "queryStringParameters", "headers", "body", "isBase64Encoded",
    ]
    static let multiKeys = [
        "requestContext", "httpMethod", "path", "multiValueQueryStringParameters", "multiValueHeaders", "body",
        "isBase64Encoded",
    ]

    @Test(arguments: [false, true])
    func rq1RepeatedQueryKey(multi: Bool) throws {
        let event = try encodeEvent(
            uri: "/?&myKey=val1&myKey=val2", headers: [("Host", "www.example.com")], options: options(multi: multi))
        #expect(event.keys == (multi ? Self.multiKeys : Self.singleKeys))
        if multi {
            #expect(event.arrayMap("multiValueQueryStringParameters") == ["myKey": ["val1", "val2"]])
        } else {
            #expect(event.stringMap("queryStringParameters") == ["myKey": "val2"])
        }
        #expect(event.text.contains("\"targetGroupArn\":\"\(testTG)\""))
    }

    @Test(arguments: [false, true])
    func rq2RepeatedCookie(multi: Bool) throws {
        let event = try encodeEvent(
            uri: "/", headers: [("Host", "www.example.com"), ("Cookie", "name1=value1"), ("Cookie", "name2=value2")],
            options: options(multi: multi))
        if multi {
            #expect(event.arrayMap("multiValueHeaders")["cookie"] == ["name1=value1", "name2=value2"])
        } else {
            #expect(event.stringMap("headers")["cookie"] == "name2=value2")
        }
    }

    static let rq3Headers = [("Host", "alb.example.com"), ("User-Agent", "t/1"), ("Accept", "*/*")]
    /// `{"requestContext":{"elb":{"targetGroupArn":"TG"}},` as every event starts.
    static let goldenPrefix = #"{"requestContext":{"elb":{"targetGroupArn":"# + "\"\(testTG)\"" + "}},"
    static let rq3Single =
        goldenPrefix + #""httpMethod":"GET","path":"/search","queryStringParameters":{"a":"c%2Fd"},"#
        + #""headers":{"accept":"*/*","host":"alb.example.com","user-agent":"t/1","#
        + #""x-amzn-trace-id":"Root=1-5bdb40ca-deadbeef0123456789abcdef","x-forwarded-for":"203.0.113.10","#
        + #""x-forwarded-port":"80","x-forwarded-proto":"http"},"body":"","isBase64Encoded":false}"#
    static let rq3Multi =
        goldenPrefix + #""httpMethod":"GET","path":"/search","multiValueQueryStringParameters":{"a":["%20b","c%2Fd"]},"#
        + #""multiValueHeaders":{"accept":["*/*"],"host":["alb.example.com"],"user-agent":["t/1"],"#
        + #""x-amzn-trace-id":["Root=1-5bdb40ca-deadbeef0123456789abcdef"],"x-forwarded-for":["203.0.113.10"],"#
        + #""x-forwarded-port":["80"],"x-forwarded-proto":["http"]},"body":"","isBase64Encoded":false}"#

    @Test(arguments: [(false, rq3Single), (true, rq3Multi)])
    func rq3GoldenBytes(multi: Bool, golden: String) throws {
        let head = ALBRequestHead(
            method: "GET", uri: "/search?a=%20b&a=c%2Fd", headers: Self.rq3Headers.map { (name: $0.0, value: $0.1) })
        // First draw → low 64 bits, second → high 32 bits of the trace id's random part.
        var random = FixedGenerator([0x0123_4567_89ab_cdef, 0xdead_beef])
        var buffer = ByteBufferAllocator().buffer(capacity: 0)
        buffer.writeString("prefix:")
        let trace = try ALBEventEncoder.encode(
            head: head, body: nil, connection: connection(port: 80), options: options(multi: multi), now: 0x5BDB_40CA,
            random: &random, into: &buffer)
        #expect(trace == "Root=1-5bdb40ca-deadbeef0123456789abcdef")
        #expect(String(buffer: buffer) == "prefix:" + golden)
        // Also with a seeded generator: same shape, trace matching the reference regex.
        let event = try encodeEvent(
            uri: "/search?a=%20b&a=c%2Fd", headers: Self.rq3Headers, options: options(multi: multi))
        #expect(isFreshRoot(event.trace))
        #expect(event.headerValues["x-amzn-trace-id"] == [event.trace])
    }

    @Test(arguments: [false, true])
    func rq4UnicodePathAndRawQuery(multi: Bool) throws {
        let uri =
            "/pp%C2%A5pp?test%C2%A5Param=Hello+World%3A+%C2%A5&multi%C2%A5Value=red+%C2%A5+apple"
            + "&multi%C2%A5Value=red%2C+green"
        let headers = [
            ("Host", "echoevent.intelisysqa.ca"), ("User-Agent", "PostmanRuntime/7.28.0"), ("Accept", "*/*"),
            ("Accept-Encoding", "gzip, deflate, br"), ("Connection", "keep-alive"),
            ("x-multivalue-header", "veg,pea"), ("x-multivalue-header", "veg,celery"),
        ]
        let event = try encodeEvent(
            uri: uri, headers: headers, options: options(multi: multi), connection: connection(port: 443, https: true))
        #expect(event["path"] == .string("/pp%C2%A5pp"))
        let queryKey = multi ? "multiValueQueryStringParameters" : "queryStringParameters"
        #expect(event.mapKeys(queryKey) == ["multi%C2%A5Value", "test%C2%A5Param"])
        if multi {
            #expect(
                event.arrayMap(queryKey) == [
                    "multi%C2%A5Value": ["red+%C2%A5+apple", "red%2C+green"],
                    "test%C2%A5Param": ["Hello+World%3A+%C2%A5"],
                ])
            let headerMap = event.arrayMap("multiValueHeaders")
            #expect(headerMap["accept-encoding"] == ["gzip, deflate, br"])
            #expect(headerMap["x-multivalue-header"] == ["veg,pea", "veg,celery"])
        } else {
            #expect(
                event.stringMap(queryKey) == [
                    "multi%C2%A5Value": "red%2C+green", "test%C2%A5Param": "Hello+World%3A+%C2%A5",
                ])
            let headerMap = event.stringMap("headers")
            #expect(
                event.mapKeys("headers") == [
                    "accept", "accept-encoding", "connection", "host", "user-agent", "x-amzn-trace-id",
                    "x-forwarded-for",
                    "x-forwarded-port", "x-forwarded-proto", "x-multivalue-header",
                ])
            #expect(headerMap["x-multivalue-header"] == "veg,celery")
            #expect(headerMap["host"] == "echoevent.intelisysqa.ca")
            #expect(headerMap["x-forwarded-port"] == "443")
            #expect(headerMap["x-forwarded-proto"] == "https")
            #expect(headerMap["connection"] == "keep-alive")
        }
    }

    @Test(arguments: [false, true], ["/todos", "/todos?", "/todos?&&", "/todos?&"])
    func rq5NoQueryNoBody(multi: Bool, uri: String) throws {
        let event = try encodeEvent(
            uri: uri, headers: [("Host", "alb.example.com"), ("User-Agent", "curl/7.79.1"), ("Accept", "*/*")],
            options: options(multi: multi))
        let queryKey = multi ? "multiValueQueryStringParameters" : "queryStringParameters"
        #expect(event[queryKey] == .object(JSONObject()))
        #expect(event.text.contains("\"\(queryKey)\":{}"))
        #expect(event["path"] == .string("/todos"))
        #expect(event.body == "")
        #expect(event.isBase64Encoded == false)
        #expect(event.keys == (multi ? Self.multiKeys : Self.singleKeys))
    }

    @Test(arguments: [false, true])
    func rq6JSONBodyAsText(multi: Bool) throws {
        let body = #"{"alpha":"bravo"}"#
        let event = try encodeEvent(
            method: "PUT", uri: "/path/to/resource",
            headers: [("Host", "api.example.com"), ("Content-Type", "application/json"), ("Content-Length", "17")],
            body: bytes(body), options: options(multi: multi))
        #expect(event["httpMethod"] == .string("PUT"))
        #expect(event.headerValues["content-length"] == ["17"])
        #expect(event.headerValues["content-type"] == ["application/json"])
        #expect(event.body == body)
        #expect(event.text.contains(#""body":"{\"alpha\":\"bravo\"}""#))
        #expect(event.isBase64Encoded == false)
    }

    @Test func rq7MultipartIsBase64() throws {
        var payload = bytes(
            "----------------------------boundary\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n")
        payload += (0..<300).map { UInt8($0 % 251) }
        payload += bytes("\r\n----------------------------boundary--\r\n")
        payload = Array(payload.prefix(425)) + [UInt8](repeating: 0x2D, count: max(0, 425 - payload.count))
        #expect(payload.count == 425)
        let event = try encodeEvent(
            method: "POST", uri: "/upload",
            headers: [
                ("Host", "alb.example.com"),
                ("Content-Type", "multipart/form-data; boundary=--------------------------boundary"),
                ("Content-Length", "425"),
            ], body: payload)
        #expect(event.isBase64Encoded == true)
        #expect(ALBBase64.decode(event.body ?? "") == payload)
        #expect(event.headerValues["content-length"] == ["425"])
    }

    @Test(
        arguments: [
            // (content-type, content-encoding, body, expected body, base64)
            ("image/png", nil, [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "iVBORw0KGgo=", true),
            ("application/json", "gzip", [0x1F, 0x8B, 0x08, 0x00], "H4sIAA==", true),
            ("application/x-www-form-urlencoded", nil, Array("say=Hi&to=Mom".utf8), "c2F5PUhpJnRvPU1vbQ==", true),
            (nil, nil, Array("abcd".utf8), "YWJjZA==", true),
        ] as [(String?, String?, [UInt8], String, Bool)])
    func rq8BinaryAndCompressed(
        contentType: String?, encoding: String?, body: [UInt8], expected: String, base64: Bool
    )
        throws
    {
        var headers = [("Host", "alb.example.com")]
        if let contentType { headers.append(("Content-Type", contentType)) }
        if let encoding { headers.append(("Content-Encoding", encoding)) }
        for multi in [false, true] {
            let event = try encodeEvent(
                method: "POST", uri: "/upload", headers: headers, body: body, options: options(multi: multi))
            #expect(event.body == expected)
            #expect(event.isBase64Encoded == base64)
        }
    }

    @Test(arguments: [false, true])
    func rq9ForwardedHeaders(multi: Bool) throws {
        let headers = [
            ("Host", "alb.example.com"), ("X-Forwarded-For", "198.51.100.7"),
            ("X-Amzn-Trace-Id", "Root=1-67891233-abcdef012345678912345678;CalledFrom=app"),
        ]
        let https = connection(port: 443, https: true)
        let append = try encodeEvent(uri: "/", headers: headers, options: options(multi: multi), connection: https)
        #expect(append.headerValues["x-forwarded-for"] == ["198.51.100.7, 203.0.113.10"])
        #expect(append.headerValues["x-forwarded-proto"] == ["https"])
        #expect(append.headerValues["x-forwarded-port"] == ["443"])
        let trace = try #require(append.headerValues["x-amzn-trace-id"]?.first)
        #expect(trace == append.trace)
        #expect(
            trace.wholeMatch(of: /Self=1-5bdb40ca-[0-9a-f]{24};Root=1-67891233-abcdef012345678912345678;CalledFrom=app/)
                != nil)
        let preserve = try encodeEvent(
            uri: "/", headers: headers, options: options(multi: multi, xff: .preserve), connection: https)
        #expect(preserve.headerValues["x-forwarded-for"] == ["198.51.100.7"])
        let remove = try encodeEvent(
            uri: "/", headers: headers, options: options(multi: multi, xff: .remove), connection: https)
        #expect(remove.headerValues["x-forwarded-for"] == nil)
        #expect(!remove.text.contains("x-forwarded-for"))
    }

    static let healthSingle =
        goldenPrefix + #""httpMethod":"GET","path":"/","queryStringParameters":{},"#
        + #""headers":{"user-agent":"ELB-HealthChecker/2.0"},"body":"","isBase64Encoded":false}"#
    static let healthMulti =
        goldenPrefix + #""httpMethod":"GET","path":"/","multiValueQueryStringParameters":{},"#
        + #""multiValueHeaders":{"user-agent":["ELB-HealthChecker/2.0"]},"body":"","isBase64Encoded":false}"#

    @Test(arguments: [(false, healthSingle), (true, healthMulti)])
    func rq10HealthCheck(multi: Bool, golden: String) throws {
        var buffer = ByteBufferAllocator().buffer(capacity: 0)
        ALBEventEncoder.encodeHealthCheck(path: "/", options: options(multi: multi), into: &buffer)
        #expect(String(buffer: buffer) == golden)
        _ = try JSONSerialization.jsonObject(with: Data(golden.utf8))
    }

    @Test(arguments: [false, true])
    func rq11OversizeBody(multi: Bool) throws {
        let limit = 1_048_576
        let head = ALBRequestHead(
            method: "POST", uri: "/",
            headers: [(name: "Host", value: "a.example.com"), (name: "Content-Length", value: "1048577")])
        let rejection = ALBRequestCheck.rejection(for: head, options: options(multi: multi))
        #expect(rejection?.status == 413)
        #expect(rejection?.reason == "LambdaRequestTooLarge")
        // A body that arrives over the limit (e.g. chunked) is refused by the encoder, which writes nothing.
        var random = SeededGenerator(seed: 1)
        var buffer = ByteBufferAllocator().buffer(capacity: 0)
        #expect(throws: ALBRejection.self) {
            _ = try ALBEventEncoder.encode(
                head: head, body: ByteBuffer(repeating: 0x61, count: limit + 1), connection: connection(),
                options: options(multi: multi), now: 0, random: &random, into: &buffer)
        }
        do {
            _ = try ALBEventEncoder.encode(
                head: head, body: ByteBuffer(repeating: 0x61, count: limit + 1), connection: connection(),
                options: options(multi: multi), now: 0, random: &random, into: &buffer)
        } catch {
            #expect(error.status == 413)
            #expect(error.reason == "LambdaRequestTooLarge")
        }
        #expect(buffer.readableBytes == 0)
        // Exactly at the limit is fine (counted in raw bytes, before base64).
        let atLimit = try encodeEvent(
            method: "POST", uri: "/", headers: [("Content-Type", "application/octet-stream")],
            body: [UInt8](repeating: 0, count: limit), options: options(multi: multi))
        #expect(atLimit.body?.utf8.count == ALBBase64.encodedLength(of: limit))
    }
}
