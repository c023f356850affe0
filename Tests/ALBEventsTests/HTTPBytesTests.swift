import ALBEvents
import NIOCore
import Testing

@Suite struct HTTPBytesTests {
    private static func head(_ response: ALBResponse, keepAlive: Bool = true) -> String {
        var buffer = ByteBuffer()
        response.writeHead(into: &buffer, date: "Tue, 01 Dec 2026 12:00:00 GMT", keepAlive: keepAlive)
        return String(buffer: buffer)
    }

    @Test func aHeadInTheFrontEndsOrder() {
        let response = ALBResponse(
            status: 200, reasonPhrase: "OK", headers: [("Content-Type", "text/plain"), ("set-cookie", "a=1")],
            body: ByteBuffer(string: "hello"))
        #expect(
            Self.head(response)
                == "HTTP/1.1 200 OK\r\nServer: awselb/2.0\r\nDate: Tue, 01 Dec 2026 12:00:00 GMT\r\n"
                + "Content-Type: text/plain\r\nset-cookie: a=1\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n")
        #expect(Self.head(response, keepAlive: false).hasSuffix("\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"))
    }

    @Test func theResponsesOwnPhraseExceptFor204And304() {
        let made = ALBResponse(status: 201, reasonPhrase: "Made It", headers: [], body: ByteBuffer())
        #expect(Self.head(made).hasPrefix("HTTP/1.1 201 Made It\r\n"))
        #expect(Self.head(made).contains("\r\nContent-Length: 0\r\n"))
        for (status, line) in [(204, "HTTP/1.1 204 No Content\r\n"), (304, "HTTP/1.1 304 Not Modified\r\n")] {
            let response = ALBResponse(
                status: status, reasonPhrase: "Whatever", headers: [], body: ByteBuffer(string: "x"))
            #expect(Self.head(response).hasPrefix(line))
            #expect(!Self.head(response).contains("Content-Length"), "no Content-Length on \(status)")
            #expect(response.forbidsBody)
        }
    }

    @Test func controlCharactersInValuesBecomeSpaces() {
        let response = ALBResponse(
            status: 200, reasonPhrase: "O\r\nK", headers: [("X-A", "one\r\nX-Injected: two\u{0}\u{7F}")],
            body: ByteBuffer())
        let text = Self.head(response)
        #expect(text.hasPrefix("HTTP/1.1 200 O  K\r\n"))
        #expect(text.contains("\r\nX-A: one  X-Injected: two  \r\n"))
        #expect(!text.contains("\r\nX-Injected"))
    }

    @Test(arguments: [0, 1, 9, 10, 99, 100, 4096, 1_048_576, Int(Int32.max), Int.max])
    func decimalsAsDescription(value: Int) {
        var buffer = ByteBuffer()
        buffer.writeDecimal(value)
        #expect(String(buffer: buffer) == String(value))
    }

    @Test(arguments: [-5, 0, 1, 9, 10, 99, 100, 4096, 1_048_576, Int(Int32.max), Int.max])
    func aHeadWritersDecimalsAndValuesAsTheBuffersOwn(value: Int) {
        var expected = ByteBuffer()
        expected.writeDecimal(value)
        expected.writeStaticString(" ")
        expected.writeFieldValue("a\r\nb\u{0}c\u{7F}é")
        expected.writeString("x\r\ny")
        var written = ByteBuffer(string: "already ")
        written.writeHead(maximumLength: HeadWriter.maximumDecimalLength + 32) { head in
            head.appendDecimal(value)
            head.append(" ")
            head.appendFieldValue("a\r\nb\u{0}c\u{7F}é")
            head.appendString("x\r\ny")
        }
        #expect(String(buffer: written) == "already " + String(buffer: expected))
    }

    @Test func theLongestHeadFitsItsMaximumLength() {
        let date = "Tue, 01 Dec 2026 12:00:00 GMT"
        for status in [200, 204, 304, 999_999] {
            let response = ALBResponse(
                status: status, reasonPhrase: "", headers: [("A", "b"), ("Set-Cookie", "c=d")],
                body: ByteBuffer(repeating: 0, count: 12345))
            var buffer = ByteBuffer()
            response.writeHead(into: &buffer, date: date, keepAlive: true)
            #expect(buffer.readableBytes <= response.maximumHeadLength(dateLength: date.utf8.count))
        }
    }
}
