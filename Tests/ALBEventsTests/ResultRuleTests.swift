import ALBEvents
import Foundation
import NIOCore
import Testing

/// Header filtering, reason phrases, base64 bodies and limits of the result decoder (alb-lambda.md §2, §7).
@Suite struct ResultRuleTests {
    typealias V = ResultVectorTests

    @Test(arguments: [false, true])
    func hopByHopAndContentLengthDropped(multi: Bool) throws {
        let names = [
            "Connection", "keep-alive", "Transfer-Encoding", "TE", "Trailer", "UPGRADE", "Proxy-Connection",
            "Proxy-Authenticate", "Proxy-Authorization", "Content-Length",
        ]
        let members = (names + ["X-Kept", "Content-Type"]).map { name in
            multi ? #""\#(name)":["v"]"# : #""\#(name)":"v""#
        }
        let field = multi ? "multiValueHeaders" : "headers"
        let response = try V.decode(
            #"{"statusCode":200,"\#(field)":{\#(members.joined(separator: ","))},"body":"abc"}"#, multi: multi)
        #expect(V.pairs(response) == ["X-Kept: v", "Content-Type: v"])
    }

    @Test func singleValueDistinctKeysAreSeparateLines() throws {
        let response = try V.decode(
            #"{"statusCode":200,"headers":{"set-cookie":"a=1","Set-cookie":"b=2","sEt-cookie":"c=3","x":"1","x":"2"}}"#)
        #expect(
            V.pairs(response) == [
                "set-cookie: a=1", "Set-cookie: b=2", "sEt-cookie: c=3", "x: 2",
                "Content-Type: application/octet-stream",
            ])
    }

    @Test func duplicateTopLevelKeysLastWins() throws {
        let response = try V.decode(#"{"statusCode":"x","statusCode":201,"body":"a","body":"b"}"#)
        #expect(response.status == 201)
        #expect(String(buffer: response.body) == "b")
        #expect(V.rejection(#"{"statusCode":201,"statusCode":"201"}"#)?.status == 502)
    }

    @Test func emptyMultiValueArrayGivesNoLine() throws {
        let response = try V.decode(#"{"statusCode":200,"multiValueHeaders":{"X":[],"Content-Type":[]}}"#, multi: true)
        #expect(V.pairs(response) == ["Content-Type: application/octet-stream"])
    }

    @Test func contentTypeDetectionIsCaseInsensitive() throws {
        let response = try V.decode(#"{"statusCode":200,"headers":{"content-TYPE":"text/plain"}}"#)
        #expect(V.pairs(response) == ["content-TYPE: text/plain"])
    }

    @Test(arguments: [
        #"{"statusCode":200,"headers":{"X-A":"a\r\nSet-Cookie: evil=1"}}"#,
        #"{"statusCode":200,"headers":{"X-A":"a\nb"}}"#,
        #"{"statusCode":200,"headers":{"X-A":"a\u0000b"}}"#,
        #"{"statusCode":200,"headers":{"X-A":"a\u007fb"}}"#,
        #"{"statusCode":200,"headers":{"Bad Name":"v"}}"#,
        #"{"statusCode":200,"headers":{"":"v"}}"#,
        #"{"statusCode":200,"headers":{"X:Y":"v"}}"#,
        #"{"statusCode":200,"headers":{"X\r\nY":"v"}}"#,
        #"{"statusCode":200,"headers":{"Connection":"close\r\nX: y"}}"#,
    ])
    func headerInjectionRefused(json: String) {
        #expect(V.rejection(json)?.reason == "LambdaInvalidResponse", "\(json)")
    }

    @Test func tabsAndNonASCIIInValuesAreFine() throws {
        let response = try V.decode(#"{"statusCode":200,"headers":{"X-A":"a\tb é","X-B":""}}"#)
        #expect(V.pairs(response).prefix(2) == ["X-A: a\tb é", "X-B: "])
    }

    @Test func headerBlockLimit() throws {
        // name(3) + ": " + value + CRLF per header, plus the defaulted "Content-Type: application/octet-stream\r\n".
        let defaultLine = "Content-Type: application/octet-stream\r\n".utf8.count
        let valueLength = 32_768 - defaultLine - 7
        let atLimit = try V.decode(
            #"{"statusCode":200,"headers":{"X-A":"\#(String(repeating: "v", count: valueLength))"}}"#)
        #expect(atLimit.headers.count == 2)
        let over = V.rejection(
            #"{"statusCode":200,"headers":{"X-A":"\#(String(repeating: "v", count: valueLength + 1))"}}"#)
        #expect(over?.status == 502)
        #expect(over?.reason == "-")
        let many = (0..<2000).map { #""x-\#($0)":["0123456789"]"# }.joined(separator: ",")
        #expect(V.rejection(#"{"statusCode":200,"multiValueHeaders":{\#(many)}}"#, multi: true)?.status == 502)
    }

    @Test(
        arguments: [
            // (status, statusDescription JSON or nil, expected phrase)
            (200, nil, "OK"),
            (200, #""200 OK""#, "OK"),
            (404, #""404 Nope Not Here""#, "Nope Not Here"),
            (200, #""201 Created""#, "Created"),
            (200, #""""#, "OK"),
            (200, #""OK""#, "OK"),
            (200, #""200""#, "OK"),
            (200, #""200 ""#, "OK"),
            (200, #""abc def""#, "OK"),
            (200, #""200 bad\r\nX: y""#, "OK"),
            (299, nil, ""),
            (418, nil, ""),
            (513, #""513 Custom""#, "Custom"),
        ] as [(Int, String?, String)])
    func reasonPhrase(status: Int, description: String?, expected: String) throws {
        let descriptionMember = description.map { #","statusDescription":\#($0)"# } ?? ""
        let response = try V.decode(#"{"statusCode":\#(status)\#(descriptionMember)}"#)
        #expect(response.reasonPhrase == expected)
    }

    @Test(arguments: [
        "aGVsbG8", "aGVsbG8==", "aGVs\nbG8=", "aGVsbG8=\r\n", "aGVs bG8=", "aGVsbG8_", "aGV-bG8=", "=aGVsbG8",
        "aG=sbG8=", "a===",
    ])
    func base64BodyMustBeStrict(encoded: String) {
        let escaped = encoded.replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\r", with: "\\r")
        let rejection = V.rejection(#"{"statusCode":200,"isBase64Encoded":true,"body":"\#(escaped)"}"#)
        #expect(rejection?.reason == "LambdaInvalidResponse", "\(encoded)")
    }

    @Test(arguments: [
        (#"{"statusCode":200,"isBase64Encoded":true,"body":"aGVsbG8="}"#, "hello"),
        (#"{"statusCode":200,"isBase64Encoded":true,"body":""}"#, ""),
        (#"{"statusCode":200,"isBase64Encoded":true}"#, ""),
        (#"{"statusCode":200,"isBase64Encoded":false,"body":"aGVsbG8="}"#, "aGVsbG8="),
        (#"{"statusCode":200,"body":""}"#, ""),
        (#"{"statusCode":200,"body":"\u00e9\ud83d\udca5"}"#, "é💥"),
        (#"{"statusCode":200,"statusDescription":""}"#, ""),
    ])
    func bodies(json: String, expected: String) throws {
        let response = try V.decode(json)
        #expect(String(buffer: response.body) == expected)
    }
}

@Suite struct ErrorPageTests {
    @Test(arguments: [
        (400, "400 Bad Request"), (403, "403 Forbidden"), (405, "405 Method Not Allowed"),
        (413, "413 Content Too Large"), (414, "414 URI Too Long"), (463, "463"), (500, "500 Internal Server Error"),
        (501, "501 Not Implemented"), (502, "502 Bad Gateway"), (503, "503 Service Unavailable"),
        (504, "504 Gateway Timeout"),
    ])
    func page(status: Int, title: String) {
        let response = ALBErrorPage.response(status: status, allocator: ByteBufferAllocator())
        #expect(response.status == status)
        #expect(response.headers.map { "\($0.name): \($0.value)" } == ["Content-Type: text/html"])
        #expect(
            String(buffer: response.body)
                == "<html>\r\n<head><title>\(title)</title></head>\r\n<body>\r\n"
                + "<center><h1>\(title)</h1></center>\r\n</body>\r\n</html>\r\n"
        )
    }

    @Test func pageForRejection() {
        let rejection = ALBRejection(status: 502, reason: "LambdaInvalidResponse", message: "x")
        let response = ALBErrorPage.response(for: rejection, allocator: ByteBufferAllocator())
        #expect(response.reasonPhrase == "Bad Gateway")
        #expect(String(buffer: response.body).contains("<h1>502 Bad Gateway</h1>"))
    }
}
