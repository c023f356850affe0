import AlbatrossTLS
import Foundation
import Invocation
import InvocationModel
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Routing
import Testing

@testable import LoadBalancer

/// `ALBRequestHandler` on an `EmbeddedChannel` behind the real HTTP/1.1 codec, with a fake invoker, a seeded
/// random source and a fixed clock: every branch of its state (idle, receiving, discarding, responding) and every
/// kind of answer, with the events it emits.
struct ALBRequestHandlerTests {
    /// The request id the handler draws first from `SplitMix64(seed:)`.
    static func firstRequestID(seed: UInt64 = 42) -> String {
        var random = SplitMix64(seed: seed)
        return RequestID.make(using: &random)
    }

    static func get(_ path: String, _ extra: String = "") -> String {
        "GET \(path) HTTP/1.1\r\nHost: example.com\r\n\(extra)\r\n"
    }

    // MARK: fixed responses and redirects

    @Test func aFixedResponseIsAnsweredWithoutInvoking() throws {
        let connection = try Connection()
        try connection.send(Self.get("/fixed"))
        let responses = try connection.responses()
        #expect(responses.count == 1)
        let response = try #require(responses.first)
        #expect(response.status == 200 && response.reason == "OK")
        #expect(response.text == "fixed body")
        #expect(response.header("Content-Type") == "text/plain")
        #expect(response.header("Content-Length") == "10")
        #expect(response.header("Server") == "awselb/2.0")
        #expect(response.header("Date")?.hasSuffix(" GMT") == true)
        #expect(response.header("Connection") == "keep-alive")
        #expect(connection.service.requests.isEmpty)
        #expect(connection.channel.isActive)
        #expect(connection.events() == ["received(HTTP:8080, 10, -)", "responseWritten(200, 10, -)"])
        #expect(connection.eventRequestIDs == Array(repeating: Self.firstRequestID(), count: 2))
        #expect(connection.inFlight.current == 0)
    }

    @Test func aRedirectKeepsPathAndQueryAndWritesThePort() throws {
        let connection = try Connection()
        try connection.send("GET /old/x?q=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n")
        let response = try #require(try connection.responses().first)
        #expect(response.status == 301 && response.reason == "Moved Permanently")
        #expect(response.header("Location") == "https://example.com:443/old/x?q=1")
        #expect(response.header("Content-Type") == "text/html")
        #expect(response.text.contains("<title>301 Moved Permanently</title>"))
        #expect(connection.service.requests.isEmpty)
        #expect(
            connection.events() == [
                "received(HTTP:8080, 20, -)", "responseWritten(301, \(response.body.count), -)",
            ])
    }

    // MARK: forwards

    @Test func aForwardTurnsTheRequestIntoAnEventAndTheResultIntoTheResponse() throws {
        let result =
            #"{"statusCode":201,"statusDescription":"201 Created","headers":{"x-custom":"yes","content-type":"application/json"},"body":"{\"ok\":true}","isBase64Encoded":false}"#
        let connection = try Connection(.outcome(FakeInvocationService.outcome(result)))
        try connection.send(
            "POST /submit?a=1 HTTP/1.1\r\nHost: example.com\r\nContent-Type: text/plain\r\n"
                + "Content-Length: 7\r\n\r\npayload"
        )
        let response = try #require(try connection.responses().first)
        #expect(response.status == 201 && response.reason == "Created")
        #expect(response.header("x-custom") == "yes")
        #expect(response.header("Content-Type") == "application/json")
        #expect(response.text == #"{"ok":true}"#)
        #expect(response.header("x-albatross-version") == nil, "no version header unless configured")

        let request = try #require(connection.service.requests.first)
        #expect(request.functionName == "hello" && request.qualifier == "live")
        #expect(request.requestID == Self.firstRequestID(), "the front end's id, so its events correlate")
        #expect(request.clientAddress == "203.0.113.7")
        #expect(request.headers.contains { $0.name == "Content-Type" && $0.value == "text/plain" })
        // The trace id's epoch comes from the injected clock.
        #expect(request.traceHeader?.hasPrefix("Root=1-6553f100-") == true)
        let event = try connection.invokedEvent()
        #expect(event["httpMethod"] as? String == "POST")
        #expect(event["path"] as? String == "/submit")
        #expect(event["queryStringParameters"] as? [String: String] == ["a": "1"])
        #expect(event["body"] as? String == "payload")
        #expect(event["isBase64Encoded"] as? Bool == false)
        let headers = try #require(event["headers"] as? [String: String])
        #expect(headers["x-forwarded-for"] == "203.0.113.7")
        #expect(headers["x-forwarded-port"] == "8080")
        #expect(headers["x-forwarded-proto"] == "http")
        #expect(headers["x-amzn-trace-id"] == request.traceHeader)
        let context = try #require(event["requestContext"] as? [String: [String: String]])
        #expect(context["elb"]?["targetGroupArn"] == Connection.targetGroupARN)

        #expect(connection.events() == ["received(HTTP:8080, default, fn)", "responseWritten(201, 11, -)"])
        #expect(connection.eventRequestIDs == [request.requestID, request.requestID])
        #expect(connection.inFlight.current == 0)
    }

    @Test func theExecutedVersionHeaderIsAddedWhenConfigured() throws {
        var attributes = LoadBalancerAttributes()
        attributes.executedVersionHeader = "x-albatross-version"
        let connection = try Connection(
            .outcome(FakeInvocationService.outcome(#"{"statusCode":200,"body":"v"}"#, version: "12")),
            listener: Connection.listener(attributes: attributes))
        try connection.send(Self.get("/"))
        let response = try #require(try connection.responses().first)
        #expect(response.header("x-albatross-version") == "12")
    }

    @Test func theSeedAndTheClockAreTheOnlySourcesOfTheEvent() throws {
        func event(seed: UInt64) throws -> (String, String?) {
            let connection = try Connection(seed: seed)
            try connection.send(Self.get("/same?x=1", "X-Custom: a\r\n"))
            let request = try #require(connection.service.requests.first)
            return (String(buffer: request.payload), request.traceHeader)
        }
        let first = try event(seed: 7)
        let second = try event(seed: 7)
        #expect(first.0 == second.0, "same seed, same clock: the same bytes")
        #expect(first.1 == second.1)
        let other = try event(seed: 8)
        #expect(other.1 != first.1, "another seed: another trace id")
    }

    @Test func aWeightedForwardFollowsTheSeededDraw() throws {
        var chosen: [String: Int] = [:]
        for seed in UInt64(1)...40 {
            let connection = try Connection(seed: seed)
            try connection.send(Self.get("/split"))
            let request = try #require(connection.service.requests.first)
            let events = connection.events()
            let group = request.functionName == "blue-fn" ? "blue" : "green"
            #expect(events.first == "received(HTTP:8080, 50, \(group))", "the event names the group invoked")
            chosen[group, default: 0] += 1
            // The same seed draws the same group again.
            let again = try Connection(seed: seed)
            try again.send(Self.get("/split"))
            #expect(again.service.requests.first?.functionName == request.functionName)
        }
        #expect(chosen["blue", default: 0] > 0 && chosen["green", default: 0] > chosen["blue", default: 0])
    }

    @Test func withoutSubscribersNoEventAndNoRequestIDAreMade() throws {
        let connection = try Connection(observed: false)
        try connection.send(Self.get("/"))
        #expect(try connection.responses().first?.status == 200)
        let request = try #require(connection.service.requests.first)
        #expect(request.requestID == nil, "the invoker makes the id")
        #expect(connection.events().isEmpty)
    }

    // MARK: failures

    @Test func aFunctionErrorIs502LambdaUnhandled() throws {
        let connection = try Connection(
            .outcome(FakeInvocationService.outcome(#"{"errorType":"Runtime.ExitError"}"#, functionError: "Unhandled")))
        try connection.send(Self.get("/"))
        let response = try #require(try connection.responses().first)
        #expect(response.status == 502 && response.reason == "Bad Gateway")
        #expect(response.header("Content-Type") == "text/html")
        #expect(response.text.contains("<h1>502 Bad Gateway</h1>"))
        #expect(response.header("Connection") == "keep-alive", "the connection survives")
        #expect(
            connection.events() == [
                "received(HTTP:8080, default, fn)",
                "responseWritten(502, \(response.body.count), LambdaUnhandled)",
            ])
    }

    @Test(arguments: [
        (InvocationError(.throttled, "Rate Exceeded."), "LambdaThrottling"),
        (InvocationError(.resourceNotFound, "Function not found"), "LambdaResourceNotFound"),
        (InvocationError(.serviceError, "shutting down", phase: .shutdown), "LambdaServiceException"),
        (InvocationError(.requestTooLarge, "too large"), "LambdaRequestTooLarge"),
    ])
    func anInvocationErrorIs502WithItsReason(error: InvocationError, reason: String) throws {
        let connection = try Connection(.failure(error))
        try connection.send(Self.get("/"))
        let response = try #require(try connection.responses().first)
        #expect(response.status == 502)
        #expect(connection.service.requests.count == 1)
        #expect(
            connection.events() == [
                "received(HTTP:8080, default, fn)", "responseWritten(502, \(response.body.count), \(reason))",
            ])
        #expect(connection.channel.isActive)
    }

    @Test(arguments: [
        ("not json", "LambdaInvalidResponse"),
        (#"{"statusCode":"200"}"#, "LambdaInvalidResponse"),
        (#"{"body":"no status"}"#, "LambdaInvalidResponse"),
        (#"{"statusCode":200,"body":""# + String(repeating: "x", count: 1_048_576) + #""}"#, "LambdaResponseTooLarge"),
    ])
    func anInvalidResultIs502WithItsReason(result: String, reason: String) throws {
        let connection = try Connection(.outcome(FakeInvocationService.outcome(result)))
        try connection.send(Self.get("/"))
        let response = try #require(try connection.responses().first)
        #expect(response.status == 502)
        #expect(
            connection.events() == [
                "received(HTTP:8080, default, fn)", "responseWritten(502, \(response.body.count), \(reason))",
            ])
    }

    @Test func aTargetGroupWithoutTargetIs503() throws {
        let connection = try Connection()
        try connection.send(Self.get("/empty"))
        try connection.send(Self.get("/nowhere"))
        let responses = try connection.responses()
        #expect(responses.map(\.status) == [503, 503])
        #expect(responses.first?.reason == "Service Unavailable")
        #expect(responses.allSatisfy { $0.header("Connection") == "keep-alive" })
        #expect(connection.service.requests.isEmpty)
        let bytes = responses[0].body.count
        #expect(
            connection.events() == [
                "received(HTTP:8080, 30, empty)", "responseWritten(503, \(bytes), -)",
                "received(HTTP:8080, 40, nowhere)", "responseWritten(503, \(bytes), -)",
            ])
    }

    // MARK: limits (the discarding state)

    @Test func aBodyOverOneMiBIs413AndClosesWithoutInvoking() throws {
        let connection = try Connection()
        let half = String(repeating: "a", count: 600 * 1024)
        let chunk = String(half.utf8.count, radix: 16) + "\r\n" + half + "\r\n"
        try connection.send("POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk)
        #expect(try connection.responses().isEmpty, "600 KiB are within the limit")
        // The second chunk crosses 1 MiB; the rest is discarded.
        try? connection.send(chunk + "0\r\n\r\n")
        let response = try #require(try connection.responses().first)
        #expect(response.status == 413)
        #expect(response.reason == "Content Too Large")
        #expect(response.header("Connection") == "close")
        #expect(!connection.channel.isActive, "closed instead of reading the rest")
        #expect(connection.service.requests.isEmpty)
        #expect(connection.events() == ["responseWritten(413, \(response.body.count), LambdaRequestTooLarge)"])
        #expect(connection.inFlight.current == 0)
    }

    @Test func aDeclaredLengthOverOneMiBIs413BeforeTheBody() throws {
        let connection = try Connection()
        // The codec reports the unread rest of the body when the connection closes.
        try? connection.send("POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 1048577\r\n\r\nabc")
        let response = try #require(try connection.responses().first)
        #expect(response.status == 413)
        #expect(response.header("Connection") == "close")
        // The rest of the body is drained (RFC 9112 §9.6) for a bounded time, then the connection closes.
        #expect(connection.channel.isActive, "still reading the body a client may be writing")
        connection.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1999))
        #expect(connection.channel.isActive)
        connection.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!connection.channel.isActive, "closed once the linger time is over")
        #expect(connection.service.requests.isEmpty)
        #expect(connection.events() == ["responseWritten(413, \(response.body.count), LambdaRequestTooLarge)"])
    }

    @Test func aRejectedRequestWithoutBodyKeepsTheConnection() throws {
        let connection = try Connection()
        try connection.send("TRACE / HTTP/1.1\r\nHost: example.com\r\n\r\n")
        try connection.send(Self.get("/fixed"))
        let responses = try connection.responses()
        #expect(responses.map(\.status) == [405, 200], "discarding ends with the request: the next one is served")
        #expect(responses.first?.header("Connection") == "keep-alive")
        #expect(connection.channel.isActive)
        let events = connection.events()
        #expect(events.first == "responseWritten(405, \(responses[0].body.count), -)")
        #expect(events.dropFirst() == ["received(HTTP:8080, 10, -)", "responseWritten(200, 10, -)"])
    }

    @Test func aRejectedRequestWithABodyIsAnsweredOnceAndCloses() throws {
        let connection = try Connection()
        try? connection.send("TRACE / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello")
        let responses = try connection.responses()
        #expect(responses.map(\.status) == [405])
        #expect(responses.first?.header("Connection") == "close")
        #expect(!connection.channel.isActive)
        #expect(connection.service.requests.isEmpty)
    }

    @Test func aWebSocketUpgradeIs400LambdaWebsocketNotSupported() throws {
        let connection = try Connection()
        try connection.send(Self.get("/", "Upgrade: websocket\r\nConnection: Upgrade\r\n"))
        let response = try #require(try connection.responses().first)
        #expect(response.status == 400)
        #expect(
            connection.events() == [
                "responseWritten(400, \(response.body.count), LambdaWebsocketNotSupported)"
            ])
    }

    // MARK: HTTP behaviour

    @Test func theStatusLineCarriesTheFunctionsDescriptionOrTheIANAPhrase() throws {
        let connection = try Connection(
            .outcome(FakeInvocationService.outcome(#"{"statusCode":201,"statusDescription":"201 Made It"}"#)))
        try connection.send(Self.get("/"))
        connection.service.answer(.outcome(FakeInvocationService.outcome(#"{"statusCode":422}"#)))
        try connection.send(Self.get("/"))
        let responses = try connection.responses()
        #expect(responses.map(\.status) == [201, 422])
        #expect(responses.map(\.reason) == ["Made It", "Unprocessable Content"])
    }

    @Test func aBodyOnA204OrA304IsNotSentAndTheConnectionStaysInSync() throws {
        let connection = try Connection(
            .outcome(FakeInvocationService.outcome(#"{"statusCode":204,"body":"not for the client"}"#)))
        try connection.send(Self.get("/"))
        connection.service.answer(.outcome(FakeInvocationService.outcome(#"{"statusCode":304,"body":"stale"}"#)))
        try connection.send(Self.get("/"))
        try connection.send(Self.get("/fixed"))
        let responses = try connection.responses()
        #expect(responses.map(\.status) == [204, 304, 200], "every response parses: no stray body bytes")
        #expect(responses.last?.text == "fixed body")
        #expect(responses[0].header("Content-Length") == nil, "no Content-Length on a 204 (RFC 9110 §8.6)")
        #expect(
            connection.events().filter { $0.hasPrefix("responseWritten") }.prefix(2) == [
                "responseWritten(204, 0, -)", "responseWritten(304, 0, -)",
            ])
    }

    @Test func headGetsTheHeadersWithoutTheBody() throws {
        let connection = try Connection(
            .outcome(FakeInvocationService.outcome(#"{"statusCode":200,"body":"hello"}"#)))
        try connection.send("HEAD / HTTP/1.1\r\nHost: example.com\r\n\r\n")
        try connection.send("HEAD /fixed HTTP/1.1\r\nHost: example.com\r\n\r\n")
        let responses = try connection.responses(head: true)
        #expect(responses.count == 2)
        #expect(responses.map { $0.header("Content-Length") } == ["5", "10"], "the length of the body not sent")
        #expect(responses.allSatisfy { $0.body.isEmpty })
        #expect(try connection.invokedEvent()["httpMethod"] as? String == "HEAD")
        #expect(
            connection.events() == [
                "received(HTTP:8080, default, fn)", "responseWritten(200, 0, -)",
                "received(HTTP:8080, 10, -)", "responseWritten(200, 0, -)",
            ])
        // Nothing was written after the heads: the connection is still in sync.
        try connection.send(Self.get("/fixed"))
        #expect(try connection.responses().first?.text == "fixed body")
    }

    @Test func keepAliveServesSeveralRequestsOnOneConnection() throws {
        let connection = try Connection()
        try connection.send(Self.get("/fixed") + Self.get("/fixed"))
        try connection.send(Self.get("/"))
        let responses = try connection.responses()
        #expect(responses.map(\.status) == [200, 200, 200])
        #expect(responses.allSatisfy { $0.header("Connection") == "keep-alive" })
        #expect(connection.channel.isActive)
    }

    @Test(arguments: [
        ("GET /fixed HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", "close", false),
        ("GET /fixed HTTP/1.0\r\nHost: example.com\r\n\r\n", "close", false),
        ("GET /fixed HTTP/1.0\r\nHost: example.com\r\nConnection: keep-alive\r\n\r\n", "keep-alive", true),
    ])
    func theConnectionHeaderFollowsTheRequest(request: String, header: String, staysOpen: Bool) throws {
        let connection = try Connection()
        try connection.send(request)
        let response = try #require(try connection.responses().first)
        #expect(response.header("Connection") == header)
        #expect(connection.channel.isActive == staysOpen)
    }

    @Test func expect100ContinueIsAnsweredBeforeTheBody() throws {
        let connection = try Connection()
        try connection.send(
            "POST / HTTP/1.1\r\nHost: example.com\r\nExpect: 100-continue\r\nContent-Type: text/plain\r\n"
                + "Content-Length: 4\r\n\r\n")
        let interim = try connection.responses()
        #expect(interim.map(\.status) == [100], "the client may send the body now")
        #expect(interim.first?.header("Content-Length") == nil)
        #expect(connection.service.requests.isEmpty)
        try connection.send("body")
        #expect(try connection.responses().map(\.status) == [200])
        #expect(try connection.invokedEvent()["body"] as? String == "body")
    }

    @Test func theHTTPSListenerPassesTheTLSDetailsOn() throws {
        var attributes = LoadBalancerAttributes()
        attributes.tlsVersionAndCipherSuiteHeaders = true
        let connection = try Connection(
            listener: Connection.listener(port: 8443, protocol: .https, attributes: attributes))
        connection.channel.pipeline.fireUserInboundEventTriggered(
            TLSHandshakeCompleted(
                protocolVersion: "TLSv1.3", cipherSuite: "TLS_AES_128_GCM_SHA256", alpn: "http/1.1",
                serverName: "example.com", sessionReused: false))
        try connection.send(Self.get("/"))
        let headers = try #require(try connection.invokedEvent()["headers"] as? [String: String])
        #expect(headers["x-forwarded-proto"] == "https")
        #expect(headers["x-forwarded-port"] == "8443")
        #expect(headers["x-amzn-tls-version"] == "TLSv1.3")
        #expect(headers["x-amzn-tls-cipher-suite"] == "TLS_AES_128_GCM_SHA256")
        #expect(connection.events().first == "received(HTTPS:8443, default, fn)")
    }

    // MARK: while the function runs (the responding state) and idle connections

    @Test func pipelinedRequestsWaitForTheResponseBeforeThem() throws {
        let connection = try Connection(.hold)
        try connection.send(Self.get("/first") + Self.get("/second"))
        #expect(connection.service.requests.count == 1, "the second waits for the first's response")
        #expect(try connection.responses().isEmpty)
        #expect(connection.inFlight.current == 1)
        connection.service.complete(with: FakeInvocationService.outcome(#"{"statusCode":200,"body":"1"}"#))
        #expect(connection.service.requests.count == 2)
        connection.service.complete(with: FakeInvocationService.outcome(#"{"statusCode":200,"body":"2"}"#))
        #expect(try connection.responses().map(\.text) == ["1", "2"])
        let paths = try (0..<2).map { try connection.invokedEvent($0)["path"] as? String }
        #expect(paths == ["/first", "/second"])
        #expect(connection.inFlight.current == 0)
    }

    @Test func aParserErrorBehindAWaitingRequestIsAnsweredAfterIt() throws {
        let connection = try Connection(.hold)
        try connection.send(Self.get("/first") + "GET / HTTP/1.1\r\nHost: example.com\r\nBad Header\r\n\r\n")
        #expect(try connection.responses().isEmpty, "the 400 waits for the answer before it")
        #expect(connection.channel.isActive)
        connection.service.complete(with: FakeInvocationService.outcome(#"{"statusCode":200,"body":"1"}"#))
        let responses = try connection.responses()
        #expect(responses.map(\.status) == [200, 400])
        #expect(responses.last?.header("Connection") == "close")
        #expect(!connection.channel.isActive)
        #expect(connection.service.requests.count == 1)
    }

    @Test func readsAreHeldWhileRequestsWait() throws {
        let connection = try Connection(.hold)
        let reads = ReadCounter()
        try connection.channel.pipeline.syncOperations.addHandler(reads, position: .first)
        connection.channel.read()
        #expect(reads.count == 1, "nothing waits: reads pass")
        try connection.send(Self.get("/first") + Self.get("/second"))
        connection.channel.read()
        #expect(reads.count == 1, "/second waits: the read is held")
        connection.service.complete(with: FakeInvocationService.outcome(#"{"statusCode":200}"#))
        #expect(connection.service.requests.count == 2)
        #expect(reads.count == 2, "nothing waits any more: the held read is made")
        connection.service.complete(with: FakeInvocationService.outcome(#"{"statusCode":200}"#))
        #expect(try connection.responses().map(\.status) == [200, 200])
    }

    @Test func nothingPipelinedBehindConnectionCloseIsAnswered() throws {
        let connection = try Connection(.hold)
        try connection.send(Self.get("/first", "Connection: close\r\n") + Self.get("/second") + Self.get("/fixed"))
        connection.service.complete(with: FakeInvocationService.outcome(#"{"statusCode":200,"body":"1"}"#))
        let responses = try connection.responses()
        #expect(responses.map(\.text) == ["1"])
        #expect(responses.first?.header("Connection") == "close")
        #expect(connection.service.requests.count == 1)
        #expect(!connection.channel.isActive)
        #expect(connection.inFlight.current == 0)
        // Answered at once (a fixed response): the request behind it in the same read is not answered either. (Here
        // the close completes before the decoder reads on; on a socket whose write is pending, the handler's own
        // `closing` guard is what refuses it.)
        let fixed = try Connection()
        try fixed.send(Self.get("/fixed", "Connection: close\r\n") + Self.get("/fixed"))
        #expect(try fixed.responses().count == 1)
        #expect(fixed.inFlight.current == 0)
    }

    @Test func theIdleTimeoutClosesOnlyAConnectionWithoutRequest() throws {
        let connection = try Connection(.hold)
        try connection.send(Self.get("/"))
        // The function runs longer than the idle timeout: the connection stays (responding).
        connection.idleTimeout()
        #expect(connection.channel.isActive, "a request is in progress")
        connection.service.complete(with: FakeInvocationService.outcome(#"{"statusCode":200}"#))
        #expect(try connection.responses().map(\.status) == [200])
        // A body that is still arriving counts as a request in progress too (receiving).
        try connection.send("POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 9\r\n\r\nhalf")
        connection.idleTimeout()
        #expect(connection.channel.isActive, "receiving")
        try connection.send("-done")
        connection.service.complete(with: FakeInvocationService.outcome(#"{"statusCode":202}"#))
        #expect(try connection.responses().map(\.status) == [202])
        #expect(try connection.invokedEvent(1)["body"] as? String != nil)
        // Nothing in progress (idle): the idle timeout closes it.
        #expect(connection.channel.isActive)
        connection.idleTimeout()
        #expect(!connection.channel.isActive)
        #expect(connection.inFlight.current == 0)
    }

    @Test func aClientThatLeavesDuringTheInvokeGetsNothingAndIsNotCounted() throws {
        let connection = try Connection(.hold)
        try connection.send(Self.get("/"))
        #expect(connection.inFlight.current == 1)
        connection.channel.close(promise: nil)
        #expect(connection.inFlight.current == 0)
        connection.service.complete(with: FakeInvocationService.outcome(#"{"statusCode":200}"#))
        #expect(try connection.responses().isEmpty)
        #expect(connection.events() == ["received(HTTP:8080, default, fn)"])
    }
}

/// Counts the `read` calls that reach the front of the pipeline.
private final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    private(set) var count = 0

    func read(context: ChannelHandlerContext) {
        count += 1
        context.read()
    }
}
