import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import LoadBalancer

/// The listener's request parser on its own: what it accepts is read exactly, in one read or byte by byte, and
/// each malformed input is its `HTTPParserError`.
struct HTTP1RequestDecoderTests {
    /// Feeds `input` in reads of `chunk` bytes (all at once with nil) and returns what came out, one line a part;
    /// a parser error ends the list as `error(...)`.
    static func decode(_ input: String, chunk: Int? = nil, close: Bool = false) throws -> [String] {
        try decode(Array(input.utf8), chunk: chunk, close: close)
    }

    static func decode(_ input: [UInt8], chunk: Int? = nil, close: Bool = false) throws -> [String] {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(HTTP1RequestDecoder()))
        var parts: [String] = []
        func drain() throws {
            while let part = try channel.readInbound(as: HTTPServerRequestPart.self) {
                switch part {
                case .head(let head):
                    let fields = head.headers.map { "\($0.name)=\($0.value)" }.joined(separator: ",")
                    parts.append("head \(head.method.rawValue) \(head.uri) \(head.version) [\(fields)]")
                case .body(let body):
                    // Body parts are joined, so that reads of any size give the same list.
                    let text = String(buffer: body)
                    if let last = parts.last, last.hasPrefix("body ") {
                        parts[parts.count - 1] = last + text
                    } else {
                        parts.append("body " + text)
                    }
                case .end(let trailers):
                    parts.append("end" + (trailers.map { " [\($0.map { "\($0.name)=\($0.value)" }.joined())]" } ?? ""))
                }
            }
            // Errors from the end of input reach the channel's end without a read to throw them.
            try channel.throwIfErrorCaught()
        }
        do {
            let step = chunk ?? max(input.count, 1)
            var start = 0
            while start < input.count {
                let end = min(start + step, input.count)
                try channel.writeInbound(ByteBuffer(bytes: input[start..<end]))
                try drain()
                start = end
            }
            if close {
                channel.pipeline.fireChannelInactive()
                try drain()
            }
        } catch let error as HTTPParserError {
            try drain()
            parts.append("error(\(error))")
        }
        _ = try? channel.finish()
        return parts
    }

    static let pipelined =
        "\r\n\r\nGET /a?x=1 HTTP/1.1\r\nHost: example.com\r\nX-Empty:\r\nX-Spaces: \t v a \t\r\n\r\n"
        + "POST /b HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello"
        + "PUT /c HTTP/1.1\r\nhost: h\r\nTransfer-Encoding: identity , chunked\r\n\r\n"
        + "5;name=\"v a\";x\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n"
        + "FOO * HTTP/1.1\r\nHost: h\r\n\r\n"

    static let expected = [
        "head GET /a?x=1 HTTP/1.1 [Host=example.com,X-Empty=,X-Spaces=v a]", "end",
        "head POST /b HTTP/1.0 [Content-Length=5]", "body hello", "end",
        "head PUT /c HTTP/1.1 [host=h,Transfer-Encoding=identity , chunked]", "body hello0123456789",
        "end [X-Trailer=t]",
        "head FOO * HTTP/1.1 [Host=h]", "end",
    ]

    @Test func pipelinedRequestsAreReadInOneRead() throws {
        #expect(try Self.decode(Self.pipelined) == Self.expected)
    }

    @Test(arguments: [1, 2, 3, 7, 64])
    func pipelinedRequestsAreReadTheSameInSmallReads(chunk: Int) throws {
        #expect(try Self.decode(Self.pipelined, chunk: chunk) == Self.expected)
    }

    static let malformed: [(String, HTTPParserError)] = [
        ("GET / HTTP/1.1\nHost: h\r\n\r\n", .lfExpected),
        ("GET / HTTP/1.1\r\nHost: h\n\r\n", .lfExpected),
        ("GET / HTTP/1.1\r\nHost: h\r\n\n", .lfExpected),
        ("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", .lfExpected),
        ("GET / HTTP/1.1\r\nHost : h\r\n\r\n", .invalidHeaderToken),
        ("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", .invalidHeaderToken),
        ("GET / HTTP/1.1\r\n: h\r\n\r\n", .invalidHeaderToken),
        ("GET / HTTP/1.1\r\nNo colon\r\n\r\n", .invalidHeaderToken),
        ("GET / HTTP/1.1\r\nX: a\u{1}b\r\n\r\n", .invalidCharactersUsed),
        ("GET / HTTP/1.1\r\nX: a\u{7F}\r\n\r\n", .invalidCharactersUsed),
        ("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", .unexpectedContentLength),
        ("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", .unexpectedContentLength),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\nContent-Length: 0\r\n\r\n", .unexpectedContentLength),
        ("POST / HTTP/1.1\r\nContent-Length: 1,1\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\nContent-Length: 9999999999999999999\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", .invalidChunkSize),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", .invalidChunkSize),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", .invalidChunkSize),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", .invalidChunkSize),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", .invalidChunkSize),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", .invalidChunkSize),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n", .invalidChunkSize),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a\u{1}\r\nhello\r\n0\r\n\r\n", .invalidChunkSize),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", .lfExpected),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad trailer\r\n\r\n", .invalidHeaderToken),
        ("GET / HTTP/1.2\r\n\r\n", .invalidVersion),
        ("GET / HTTP/2.0\r\n\r\n", .invalidVersion),
        ("GET / http/1.1\r\n\r\n", .invalidVersion),
        ("GET /\r\n\r\n", .invalidURL),
        ("GET  / HTTP/1.1\r\n\r\n", .invalidURL),
        ("GET / x HTTP/1.1\r\n\r\n", .invalidVersion),
        ("GET /a\u{1}b HTTP/1.1\r\n\r\n", .invalidURL),
        ("GET /caf\u{E9} HTTP/1.1\r\n\r\n", .invalidURL),
        (" GET / HTTP/1.1\r\n\r\n", .invalidMethod),
        ("G(T / HTTP/1.1\r\n\r\n", .invalidMethod),
    ]

    @Test(arguments: malformed)
    func aMalformedRequestIsItsParserError(input: String, error: HTTPParserError) throws {
        let parts = try Self.decode(input)
        #expect(parts.last == "error(\(error))", "\(parts)")
        #expect(!parts.contains { $0.hasPrefix("head") } || !input.hasPrefix("GET"), "no head before the error")
        // The same error, whatever the reads.
        #expect(try Self.decode(input, chunk: 1).last == "error(\(error))")
    }

    @Test func aHeadOverTheBoundIsAnOverflowWithoutWaitingForItsEnd() throws {
        let field = "X-Long: " + String(repeating: "a", count: HTTP1RequestDecoder.maximumHeadLength) + "\r\n"
        #expect(try Self.decode("GET / HTTP/1.1\r\n" + field) == ["error(\(HTTPParserError.headerOverflow))"])
        let justUnder = "X: " + String(repeating: "a", count: HTTP1RequestDecoder.maximumHeadLength - 40) + "\r\n"
        #expect(try Self.decode("GET / HTTP/1.1\r\n" + justUnder + "\r\n").first?.hasPrefix("head GET") == true)
    }

    @Test func aChunkLineOverTheBoundIsAnError() throws {
        let line = "5;" + String(repeating: "x", count: HTTP1RequestDecoder.maximumChunkLineLength)
        let parts = try Self.decode("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + line)
        #expect(parts.last == "error(\(HTTPParserError.invalidChunkSize))")
    }

    @Test func trailersOverTheBoundAreAnError() throws {
        let trailer = "X: " + String(repeating: "t", count: HTTP1RequestDecoder.maximumTrailerLength) + "\r\n"
        let parts = try Self.decode("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + trailer)
        #expect(parts.last == "error(\(HTTPParserError.headerOverflow))")
    }

    @Test func nothingIsReadAfterConnectOrAnUpgradeOrAnUnframableBody() throws {
        #expect(
            try Self.decode("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\nGET / HTTP/1.1\r\n\r\n")
                == ["head CONNECT h:443 HTTP/1.1 [Host=h:443]", "end"])
        #expect(
            try Self.decode("POST / HTTP/1.1\r\nUpgrade: h2c\r\nContent-Length: 2\r\n\r\nokGET / HTTP/1.1\r\n\r\n")
                == ["head POST / HTTP/1.1 [Upgrade=h2c,Content-Length=2]", "body ok", "end"])
        #expect(
            try Self.decode("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n\u{1F}\u{8B}GET / HTTP/1.1\r\n\r\n")
                == ["head POST / HTTP/1.1 [Transfer-Encoding=gzip]", "end"])
    }

    @Test func anEndOfInputInsideARequestIsAnErrorAndBetweenRequestsIsNot() throws {
        #expect(try Self.decode("GET / HTTP/1.1\r\nHo", close: true) == ["error(\(HTTPParserError.invalidEOFState))"])
        #expect(
            try Self.decode("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel", close: true)
                == ["head POST / HTTP/1.1 [Content-Length=5]", "body hel", "error(\(HTTPParserError.invalidEOFState))"])
        #expect(try Self.decode("GET / HTTP/1.1\r\n\r\n\r\n", close: true) == ["head GET / HTTP/1.1 []", "end"])
    }

    @Test func headerValuesKeepTheirBytesAndObsTextIsAllowed() throws {
        var input = Array("GET / HTTP/1.1\r\nX-Latin: caf".utf8)
        input.append(0xE9)
        input += Array("\r\nX-UTF8: caf\u{E9}\r\n\r\n".utf8)
        let parts = try Self.decode(input)
        // Invalid UTF-8 becomes U+FFFD, which the event encoder answers with 502 LambdaBadRequest.
        #expect(parts.first == "head GET / HTTP/1.1 [X-Latin=caf\u{FFFD},X-UTF8=caf\u{E9}]")
    }
}
