import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Routing
import Testing

@testable import LoadBalancer

/// The hostile-request answers of issue 8 (items 3-5) on the connection pipeline `LoadBalancer` builds, over an
/// `EmbeddedChannel`: parser errors, the request-head deadline, CONNECT and upgrades, methods, header bytes that are
/// not UTF-8, transfer codings and obs-fold.
struct HostileRequestHandlerTests {
    static func get(_ path: String, _ extra: String = "") -> String {
        ALBRequestHandlerTests.get(path, extra)
    }

    // MARK: parser errors (item 3)

    @Test(arguments: [
        "GET / HTTP/1.1\r\nHost: example.com\r\nNo colon here\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 1x\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ])
    func aParserErrorGetsTheALBPageAndCloses(request: String) throws {
        let connection = try Connection()
        try connection.send(request)
        let responses = try connection.responses()
        #expect(responses.map(\.status) == [400])
        let response = try #require(responses.first)
        #expect(response.header("Server") == "awselb/2.0")
        #expect(response.header("Date")?.hasSuffix(" GMT") == true)
        #expect(response.header("Connection") == "close")
        #expect(response.header("Content-Type") == "text/html")
        #expect(response.text.contains("<title>400 Bad Request</title>"))
        #expect(!connection.channel.isActive, "closed once the answer is written")
        #expect(connection.service.requests.isEmpty)
    }

    @Test func aParserErrorAfterAnAnsweredRequestIsAnsweredOnceAndCloses() throws {
        let connection = try Connection()
        try connection.send(Self.get("/fixed") + "GARBAGE\r\n\r\n")
        #expect(try connection.responses().map(\.status) == [200, 400])
        #expect(!connection.channel.isActive)
        try? connection.send("more garbage\r\n\r\n")
        #expect(try connection.responses().isEmpty)
    }

    @Test func aRejectionTheClientAskedToCloseCloses() throws {
        let connection = try Connection()
        try connection.send("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n")
        let response = try #require(try connection.responses().first)
        #expect(response.status == 400)
        #expect(response.header("Connection") == "close")
        #expect(!connection.channel.isActive)
    }

    // MARK: the request-head deadline (item 4)

    static func slowListener() -> ListenerContext {
        var attributes = LoadBalancerAttributes()
        attributes.requestHeaderTimeoutSeconds = 2
        return Connection.listener(attributes: attributes)
    }

    @Test func aHeadThatTricklesPastTheDeadlineGets408AndTheClose() throws {
        let connection = try Connection(listener: Self.slowListener())
        try connection.send("GET /fixed HTTP/1.1\r\n")
        for _ in 0..<3 {
            connection.channel.embeddedEventLoop.advanceTime(by: .milliseconds(500))
            try connection.send("X")  // every byte would restart an idle timer; the deadline counts from the first
        }
        #expect(connection.channel.isActive)
        connection.channel.embeddedEventLoop.advanceTime(by: .milliseconds(600))
        let response = try #require(try connection.responses().first)
        #expect(response.status == 408)
        #expect(response.header("Server") == "awselb/2.0")
        #expect(response.header("Connection") == "close")
        #expect(response.text.contains("<h1>408 Request Timeout</h1>"))
        #expect(!connection.channel.isActive)
    }

    @Test func aHeadThatArrivesInTimeIsServedAndTheNextRequestHasItsOwnDeadline() throws {
        let connection = try Connection(listener: Self.slowListener())
        try connection.send("GET /fixed HTTP/1.1\r\n")
        connection.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1500))
        try connection.send("Host: example.com\r\n\r\n")
        #expect(try connection.responses().map(\.status) == [200])
        // Idle between requests is the idle timeout's business, not the deadline's.
        connection.channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        #expect(connection.channel.isActive)
        try connection.send("GET /fixed HTTP/1.1\r\n")
        connection.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1900))
        try connection.send("Host: example.com\r\n\r\n")
        #expect(try connection.responses().map(\.status) == [200])
        connection.channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(connection.channel.isActive)
    }

    @Test func theDeadlineDuringAnAnswerClosesWithoutA408() throws {
        let connection = try Connection(.hold, listener: Self.slowListener())
        try connection.send(Self.get("/") + "GET / HT")
        connection.channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        // The pipelined head started in the same read as the first request ended: its deadline starts at the next
        // read.
        #expect(connection.channel.isActive)
        try connection.send("T")
        connection.channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        #expect(try connection.responses().isEmpty, "no 408 inside the answer still owed")
        #expect(!connection.channel.isActive)
    }

    // MARK: CONNECT, upgrades and methods (item 5)

    @Test func connectIs405AndCloses() throws {
        let connection = try Connection()
        try connection.send("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        let responses = try connection.responses()
        #expect(responses.map(\.status) == [405])
        #expect(responses.first?.header("Connection") == "close")
        #expect(responses.first?.text.contains("405 Method Not Allowed") == true)
        #expect(!connection.channel.isActive)
        #expect(connection.service.requests.isEmpty, "not forwarded")
    }

    @Test func aNonWebSocketUpgradeIsServedAndTheConnectionCloses() throws {
        let connection = try Connection()
        try connection.send(Self.get("/", "Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"))
        let responses = try connection.responses()
        #expect(responses.map(\.status) == [200])
        #expect(responses.first?.header("Connection") == "close", "the decoder reads nothing after an upgrade")
        #expect(!connection.channel.isActive)
    }

    @Test func aMethodTheParserKnowsIsForwardedAsItIs() throws {
        let connection = try Connection()
        try connection.send("PURGE /x HTTP/1.1\r\nHost: example.com\r\n\r\n")
        #expect(try connection.responses().map(\.status) == [200])
        #expect(try connection.invokedEvent()["httpMethod"] as? String == "PURGE")
    }

    @Test(arguments: ["FOO", "get", "Get", "M-SEARCH", "x~1"])
    func aCustomOrLowerCaseMethodIsForwardedAsItIs(method: String) throws {
        // An ALB forwards custom methods, and rules match methods case-sensitively (alb-lambda.md §5.2).
        let connection = try Connection()
        try connection.send("\(method) / HTTP/1.1\r\nHost: example.com\r\n\r\n")
        #expect(try connection.responses().map(\.status) == [200])
        #expect(try connection.invokedEvent()["httpMethod"] as? String == method)
        #expect(connection.channel.isActive)
    }

    @Test(arguments: ["G@T", "GE(T", "G\u{E9}T", "\"GET\""])
    func aMethodThatIsNotATokenIs400(method: String) throws {
        let connection = try Connection()
        try connection.send("\(method) / HTTP/1.1\r\nHost: example.com\r\n\r\n")
        let responses = try connection.responses()
        #expect(responses.map(\.status) == [400])
        #expect(responses.first?.header("Server") == "awselb/2.0")
        #expect(connection.service.requests.isEmpty)
        #expect(!connection.channel.isActive)
    }

    // MARK: header bytes, transfer codings, obs-fold (item 5)

    @Test func aHeaderValueThatIsNotUTF8Is502LambdaBadRequest() throws {
        let connection = try Connection()
        var request = ByteBuffer(string: "GET / HTTP/1.1\r\nHost: example.com\r\nX-Name: caf")
        request.writeBytes([0xE9])  // Latin-1 é
        request.writeString("\r\n\r\n")
        try connection.send(request)
        let responses = try connection.responses()
        #expect(responses.map(\.status) == [502])
        #expect(connection.service.requests.isEmpty, "the invocation fails before the function")
        #expect(connection.events().last == "responseWritten(502, \(responses[0].body.count), LambdaBadRequest)")
        #expect(connection.channel.isActive, "the connection stays usable")
        try connection.send(Self.get("/", "X-Name: caf\u{E9}\r\n"))
        #expect(try connection.responses().map(\.status) == [200], "UTF-8 é is forwarded")
        #expect((try connection.invokedEvent()["headers"] as? [String: String])?["x-name"] == "caf\u{E9}")
    }

    @Test func identityIsAcceptedBeforeChunkedAndOtherCodingsAre501() throws {
        let chunked = "Transfer-Encoding: %@\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        let connection = try Connection()
        try connection.send(
            "POST / HTTP/1.1\r\nHost: example.com\r\n"
                + chunked.replacingOccurrences(of: "%@", with: "identity, chunked"))
        try connection.send(
            "POST / HTTP/1.1\r\nHost: example.com\r\n" + chunked.replacingOccurrences(of: "%@", with: "gzip, chunked"))
        #expect(try connection.responses().map(\.status) == [200, 501])
        #expect(connection.service.requests.count == 1)
        #expect(try connection.invokedEvent()["body"] as? String == "aGVsbG8=", "the chunked body, read")
    }

    @Test func identityAloneIsNoCodingAndTheConnectionGoesOn() throws {
        // `identity` is no coding (alb-lambda.md §1.5): the request has no body, and the next one is read.
        let connection = try Connection()
        try connection.send(
            "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: identity\r\n\r\n" + Self.get("/"))
        #expect(try connection.responses().map(\.status) == [200, 200])
        #expect(connection.service.requests.count == 2)
        #expect(connection.channel.isActive)
    }

    @Test func anOtherCodingAloneIs501AndTheConnectionCloses() throws {
        // Without chunked the body has no end the listener can find: 501, then nothing more is read.
        let connection = try Connection()
        try connection.send(
            "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: gzip\r\n\r\n\u{1F}xyz" + Self.get("/"))
        let responses = try connection.responses()
        #expect(responses.map(\.status) == [501])
        #expect(responses.first?.header("Connection") == "close")
        #expect(connection.service.requests.isEmpty)
        #expect(!connection.channel.isActive)
    }

    @Test func anObsFoldedHeaderIs400() throws {
        let connection = try Connection()
        try connection.send("GET / HTTP/1.1\r\nHost: example.com\r\nX-Folded: one\r\n two\r\n\r\n")
        let responses = try connection.responses()
        #expect(responses.map(\.status) == [400])
        #expect(connection.service.requests.isEmpty)
    }
}
