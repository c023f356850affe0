import AlbatrossTestKit
import InvocationModel
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import Environments

/// `RuntimeAPIHandler` on `EmbeddedChannel`s behind NIO's real request decoder, serving an environment made of the
/// real lifecycle state machine on a test clock (``MachineEnvironment``): every route, the answers RAPID gives,
/// bodies (Content-Length, chunked, the 6 MiB + 100 limit), `Expect: 100-continue`, keep-alive and a parked
/// `/next` whose connection closes.
struct RuntimeAPIHandlerTests {
    static let prefix = "/2018-06-01/runtime"

    static func request(
        id: String, payload: String = #"{"hello":"runtime"}"#, clientContext: String? = nil
    )
        -> InvocationRequest
    {
        InvocationRequest(
            requestID: id, payload: ByteBuffer(string: payload),
            invokedFunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:probe:live",
            traceHeader: "Root=1-6553f100-0123456789abcdef01234567;Parent=89abcdef01234567;Sampled=0",
            clientContext: clientContext)
    }

    static func next(_ extra: String = "") -> String {
        "GET \(prefix)/invocation/next HTTP/1.1\r\nHost: 127.0.0.1\r\n\(extra)\r\n"
    }

    static func post(_ path: String, _ body: String, _ extra: String = "") -> String {
        "POST \(prefix)/\(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\(extra)"
            + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    // MARK: /next

    @Test func theFirstNextGetsTheColdStartsInvokeWithEveryHeader() throws {
        let environment = MachineEnvironment(pending: Self.request(id: "req-1", clientContext: #"{"client":1}"#))
        let runtime = try RuntimeConnection(environment)
        environment.advance(250)
        try runtime.send(Self.next())
        let event = try #require(try runtime.responses().first)
        #expect(event.status == 200)
        #expect(event.header("Content-Type") == "application/json")
        #expect(event.header("Lambda-Runtime-Aws-Request-Id") == "req-1")
        // The wall clock at delivery (epoch + 250 ms) plus the whole 3 s timeout.
        #expect(event.header("Lambda-Runtime-Deadline-Ms") == String(MachineEnvironment.epochMsAtStart + 250 + 3000))
        #expect(
            event.header("Lambda-Runtime-Invoked-Function-Arn")
                == "arn:aws:lambda:us-east-1:123456789012:function:probe:live")
        #expect(event.header("Lambda-Runtime-Trace-Id")?.hasPrefix("Root=1-6553f100-") == true)
        #expect(event.header("Lambda-Runtime-Client-Context") == #"{"client":1}"#)
        #expect(event.header("Content-Length") == "19")
        #expect(event.text == #"{"hello":"runtime"}"#)
        #expect(runtime.channel.isActive, "keep-alive")
    }

    @Test func aNextAfterTheResultIsParkedUntilAnInvokeArrives() throws {
        let environment = MachineEnvironment(pending: Self.request(id: "req-1"))
        let runtime = try RuntimeConnection(environment)
        try runtime.send(Self.next())
        _ = try runtime.responses()
        try runtime.send(Self.post("invocation/req-1/response", #""done""#))
        #expect(try runtime.responses().map(\.status) == [202])
        try runtime.send(Self.next())
        #expect(try runtime.responses().isEmpty, "parked")
        #expect(environment.log.last == "park")
        environment.advance(1000)
        environment.invoke(Self.request(id: "req-2", payload: "{}"))
        let event = try #require(try runtime.responses().first)
        #expect(event.header("Lambda-Runtime-Aws-Request-Id") == "req-2")
        #expect(event.header("Lambda-Runtime-Client-Context") == nil, "only when the caller gave one")
        #expect(event.header("Lambda-Runtime-Deadline-Ms") == String(MachineEnvironment.epochMsAtStart + 1000 + 3000))
        #expect(event.text == "{}")
    }

    /// A runtime that pipelines: its result and its next `/next` in one write. The `/next` waits until the 202 is
    /// written, then parks; the next invoke answers it on the same connection, in order.
    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let environment = MachineEnvironment(pending: Self.request(id: "req-1"))
        let runtime = try RuntimeConnection(environment)
        try runtime.send(Self.next())
        _ = try runtime.responses()
        let ping = "GET /2018-06-01/ping HTTP/1.1\r\nHost: x\r\n\r\n"
        try runtime.send(Self.post("invocation/req-1/response", #""done""#) + ping + Self.next() + ping)
        #expect(try runtime.responses().map(\.status) == [202, 200], "the ping after the parked /next waits")
        #expect(environment.log.last == "park")
        environment.invoke(Self.request(id: "req-2", payload: "{}"))
        let answers = try runtime.responses()
        #expect(answers.map(\.status) == [200, 200])
        #expect(answers.first?.header("Lambda-Runtime-Aws-Request-Id") == "req-2")
        #expect(answers.last?.text == "pong")
        #expect(runtime.channel.isActive)
    }

    /// What NIO's `HTTPServerProtocolErrorHandler` answered before the handler wrote its own answers.
    @Test func aRequestTheDecoderRefusesIs400AndTheConnectionCloses() throws {
        let runtime = try RuntimeConnection(MachineEnvironment(pending: nil))
        try runtime.send("GET /2018-06-01/ping HTTP/1.1\r\nHost x\r\n\r\n")
        let answers = try runtime.responses()
        #expect(answers.map(\.status) == [400])
        #expect(answers.first?.header("Connection") == "close")
        runtime.channel.embeddedEventLoop.run()
        #expect(!runtime.channel.isActive)
    }

    /// A body in a coding other than `chunked` cannot be framed: refused (400, the connection closed), not read as
    /// an empty result.
    @Test(arguments: ["gzip", "chunked, gzip"])
    func aPostInAnUnframeableCodingIs400AndTheConnectionCloses(coding: String) throws {
        let environment = MachineEnvironment(pending: Self.request(id: "req-1"))
        let runtime = try RuntimeConnection(environment)
        try runtime.send(Self.next())
        _ = try runtime.responses()
        try runtime.send(
            "POST /2018-06-01/runtime/invocation/req-1/response HTTP/1.1\r\nHost: x\r\n"
                + "Transfer-Encoding: \(coding)\r\n\r\n4\r\ndone\r\n0\r\n\r\n")
        let answers = try runtime.responses()
        #expect(answers.map(\.status) == [400])
        #expect(!environment.log.contains { $0.hasPrefix("response") }, "no result taken: \(environment.log)")
        runtime.channel.embeddedEventLoop.run()
        #expect(!runtime.channel.isActive)
    }

    /// A client context is any JSON object, which may hold line breaks between its tokens: they must not end the
    /// header field (or the head) the runtime reads.
    @Test func lineBreaksInAClientContextCannotEndItsField() throws {
        let context = "{\r\n\"client\": 1,\n\"x\":\t2}"
        let environment = MachineEnvironment(pending: Self.request(id: "req-1", clientContext: context))
        let runtime = try RuntimeConnection(environment)
        try runtime.send(Self.next())
        let event = try #require(try runtime.responses().first)
        #expect(event.header("Lambda-Runtime-Client-Context") == #"{  "client": 1, "x": 2}"#)
        #expect(event.header("Lambda-Runtime-Aws-Request-Id") == "req-1")
        #expect(event.text == #"{"hello":"runtime"}"#)
    }

    @Test func aNextBeforeTheResultOnTheSameConnectionGetsTheSameInvokeAgain() throws {
        let environment = MachineEnvironment(pending: Self.request(id: "req-1"))
        let runtime = try RuntimeConnection(environment)
        try runtime.send(Self.next())
        let delivered = try #require(try runtime.responses().first)
        environment.advance(500)
        try runtime.send(Self.next())
        let again = try #require(try runtime.responses().first)
        #expect(environment.log.last == "redelivered(req-1)")
        #expect(again.header("Lambda-Runtime-Aws-Request-Id") == "req-1")
        #expect(
            again.header("Lambda-Runtime-Deadline-Ms") == delivered.header("Lambda-Runtime-Deadline-Ms"),
            "the deadline does not move")
        #expect(again.text == delivered.text)
    }

    /// Issue 8, item 9: two pollers on one environment. Each event reaches exactly one of them, the other is held
    /// (never told the environment is terminated), and it gets the next event once the first has posted.
    @Test func twoConcurrentPollersNeverGetTheSameEvent() throws {
        let environment = MachineEnvironment(pending: Self.request(id: "req-1"))
        let first = try RuntimeConnection(environment)
        let second = try RuntimeConnection(environment)
        try first.send(Self.next())
        try second.send(Self.next())
        let delivered = try first.responses()
        #expect(delivered.map { $0.header("Lambda-Runtime-Aws-Request-Id") } == ["req-1"])
        #expect(try second.responses().isEmpty, "held: no event, and no 403")
        #expect(environment.log.last == "hold")
        #expect(second.channel.isActive)

        try first.send(Self.post("invocation/req-1/response", #""one""#))
        #expect(try first.responses().map(\.status) == [202])
        #expect(try second.responses().isEmpty, "req-1 is over; nothing new yet")
        try first.send(Self.next())
        #expect(try first.responses().isEmpty, "the first poller now waits behind the second")

        environment.invoke(Self.request(id: "req-2"))
        #expect(try second.responses().map { $0.header("Lambda-Runtime-Aws-Request-Id") } == ["req-2"])
        #expect(try first.responses().isEmpty, "req-2 went to one poller only")
        try second.send(Self.post("invocation/req-2/response", #""two""#))
        #expect(try second.responses().map(\.status) == [202])
        environment.invoke(Self.request(id: "req-3"))
        #expect(try first.responses().map { $0.header("Lambda-Runtime-Aws-Request-Id") } == ["req-3"])

        try second.send(Self.next())
        environment.stop()
        #expect(try second.responses().map(\.status) == [403], "released only when the environment stops")
    }

    @Test func aParkedNextThatStopsBeingWantedIsAnswered403() throws {
        let environment = MachineEnvironment(pending: nil)
        let runtime = try RuntimeConnection(environment)
        try runtime.send(Self.next())
        environment.stop()
        let response = try #require(try runtime.responses().first)
        #expect(response.status == 403)
        #expect(
            response.text
                == #"{"errorMessage":"State transition from Terminated to Ready failed for runtime","errorType":"InvalidStateTransition"}"#
        )
        #expect(runtime.channel.isActive)
    }

    @Test func aParkedNextWhoseConnectionClosesIsForgotten() throws {
        let environment = MachineEnvironment(pending: nil)
        let gone = try RuntimeConnection(environment)
        try gone.send(Self.next())
        gone.channel.close(promise: nil)
        #expect(environment.log.last == "waiterGone(true)")
        // The next invoke waits for the runtime to come back instead of being written to a closed connection.
        environment.invoke(Self.request(id: "req-2"))
        #expect(environment.log.last == "queued")
        let back = try RuntimeConnection(environment)
        try back.send(Self.next())
        #expect(try back.responses().first?.header("Lambda-Runtime-Aws-Request-Id") == "req-2")
        // A connection that closes while its invoke runs is forgotten too (it was not the parked poller), so that
        // the environment does not keep a closed handler until the result comes.
        back.channel.close(promise: nil)
        #expect(environment.log.suffix(2) == ["delivered(req-2)", "waiterGone(false)"])
    }

    // MARK: results

    @Test func aResponseIsAccepted202AndHandedOverWithItsContentType() throws {
        let environment = MachineEnvironment(pending: Self.request(id: "req-1"))
        let runtime = try RuntimeConnection(environment)
        environment.advance(100)
        try runtime.send(Self.next())
        environment.advance(40)
        try runtime.send(Self.post("invocation/req-1/response", #"{"ok":true}"#, "Content-Type: text/json\r\n"))
        let response = try #require(try runtime.responses().last)
        #expect(response.status == 202)
        #expect(response.header("Content-Type") == "application/json")
        #expect(response.text == #"{"status":"OK"}"#)
        #expect(environment.log.last == #"response(req-1, {"ok":true}, text/json, -, 40.0 ms)"#)
    }

    @Test func anErrorIsAccepted202WithItsErrorType() throws {
        let environment = MachineEnvironment(pending: Self.request(id: "req-1"))
        let runtime = try RuntimeConnection(environment)
        try runtime.send(Self.next())
        try runtime.send(
            Self.post(
                "invocation/req-1/error", #"{"errorType":"Boom"}"#,
                "Lambda-Runtime-Function-Error-Type: Custom.Boom\r\n"
            ))
        #expect(try runtime.responses().last?.status == 202)
        #expect(environment.log.last == #"error(req-1, {"errorType":"Boom"}, -, Custom.Boom, 0.0 ms)"#)
    }

    @Test func postsForAnotherInvokeOrInTheWrongStateAreRefused() throws {
        let environment = MachineEnvironment(pending: Self.request(id: "req-1"))
        let runtime = try RuntimeConnection(environment)
        try runtime.send(Self.post("invocation/req-1/response", "{}"))
        let early = try #require(try runtime.responses().first)
        #expect(early.status == 403, "during INIT")
        #expect(early.text.contains(#""errorType":"InvalidStateTransition""#))
        try runtime.send(Self.next())
        _ = try runtime.responses()
        try runtime.send(Self.post("invocation/other/response", "{}"))
        let wrong = try #require(try runtime.responses().first)
        #expect(wrong.status == 400)
        #expect(wrong.text == #"{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}"#)
        try runtime.send(Self.post("invocation/req-1/response", "{}"))
        #expect(try runtime.responses().first?.status == 202)
        try runtime.send(Self.post("invocation/req-1/error", "{}"))
        #expect(try runtime.responses().first?.status == 400, "a second result")
        #expect(runtime.channel.isActive, "refusals keep the connection")
    }

    @Test(arguments: [("buffered", 400), ("streaming", 202), ("Streaming", 202)])
    func theResponseModeHeaderIsChecked(mode: String, status: Int) throws {
        let environment = MachineEnvironment(pending: Self.request(id: "req-1"))
        let runtime = try RuntimeConnection(environment)
        try runtime.send(Self.next())
        _ = try runtime.responses()
        try runtime.send(
            Self.post("invocation/req-1/response", "{}", "Lambda-Runtime-Function-Response-Mode: \(mode)\r\n"))
        let response = try #require(try runtime.responses().first)
        #expect(response.status == status)
        if status == 400 { #expect(response.text.contains("InvalidFunctionResponseMode")) }
    }

    @Test func initErrorIsAcceptedDuringINITOnly() throws {
        let environment = MachineEnvironment(pending: Self.request(id: "req-1"))
        let runtime = try RuntimeConnection(environment)
        try runtime.send(
            Self.post("init/error", #"{"errorType":"Init.Bad"}"#, "Lambda-Runtime-Function-Error-Type: Init.Bad\r\n"))
        #expect(try runtime.responses().first?.status == 202)
        #expect(environment.log.last == #"initError(req-1, Init.Bad, {"errorType":"Init.Bad"})"#)

        let later = MachineEnvironment(pending: Self.request(id: "req-2"))
        let other = try RuntimeConnection(later)
        try other.send(Self.next())
        _ = try other.responses()
        try other.send(Self.post("init/error", "{}"))
        #expect(try other.responses().first?.status == 403)
    }

    // MARK: bodies

    @Test func aChunkedBodyIsReadToTheEndTrailersIgnored() throws {
        let environment = MachineEnvironment(pending: Self.request(id: "req-1"))
        let runtime = try RuntimeConnection(environment)
        try runtime.send(Self.next())
        try runtime.send(
            "POST \(Self.prefix)/invocation/req-1/response HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "3\r\n\"ab\r\n")
        #expect(try runtime.responses().count == 1, "only the event: no answer before the body ended")
        try runtime.send("2\r\ncd\r\n")
        try runtime.send("1\r\n\"\r\n0\r\nX-Trailer: t\r\n\r\n")
        #expect(try runtime.responses().first?.status == 202)
        #expect(environment.log.last?.hasPrefix(#"response(req-1, "abcd", "#) == true)
    }

    @Test func aResultOfExactlyTheLimitIsAccepted() throws {
        let environment = MachineEnvironment(pending: Self.request(id: "req-1"))
        let runtime = try RuntimeConnection(environment)
        try runtime.send(Self.next())
        _ = try runtime.responses()
        try runtime.sendChunked(
            path: "invocation/req-1/response", total: RuntimeAPIHandler.maximumPostSize)
        #expect(try runtime.responses().first?.status == 202)
    }

    @Test func aResultOverTheLimitIs413AndFailsTheInvoke() throws {
        let environment = MachineEnvironment(pending: Self.request(id: "req-1"))
        let runtime = try RuntimeConnection(environment)
        try runtime.send(Self.next())
        _ = try runtime.responses()
        try runtime.sendChunked(path: "invocation/req-1/response", total: RuntimeAPIHandler.maximumPostSize + 1)
        let response = try #require(try runtime.responses().first)
        #expect(response.status == 413)
        #expect(
            response.text
                == #"{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).","errorType":"RequestEntityTooLarge"}"#
        )
        #expect(environment.log.last == "responseTooLarge(req-1)")
        #expect(runtime.channel.isActive, "the whole body was read: the connection can go on")
        try runtime.send(Self.next())
        #expect(try runtime.responses().isEmpty, "parked: the invoke is over")
    }

    @Test func anErrorOverTheLimitIs413WithoutEndingTheInvoke() throws {
        let environment = MachineEnvironment(pending: Self.request(id: "req-1"))
        let runtime = try RuntimeConnection(environment)
        try runtime.send(Self.next())
        _ = try runtime.responses()
        try runtime.sendChunked(path: "invocation/req-1/error", total: RuntimeAPIHandler.maximumPostSize + 1)
        #expect(try runtime.responses().first?.status == 413)
        #expect(environment.log.last == "delivered(req-1)")
    }

    @Test func expect100ContinueIsAnsweredBeforeTheBody() throws {
        let environment = MachineEnvironment(pending: Self.request(id: "req-1"))
        let runtime = try RuntimeConnection(environment)
        try runtime.send(Self.next())
        _ = try runtime.responses()
        try runtime.send(
            "POST \(Self.prefix)/invocation/req-1/response HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                + "Content-Length: 2\r\n\r\n")
        #expect(try runtime.responses().map(\.status) == [100])
        try runtime.send("{}")
        #expect(try runtime.responses().map(\.status) == [202])
    }

    // MARK: other routes, keep-alive

    @Test func pingAnswersPong() throws {
        let runtime = try RuntimeConnection(MachineEnvironment(pending: nil))
        try runtime.send("GET /2018-06-01/ping HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try #require(try runtime.responses().first)
        #expect(response.status == 200 && response.text == "pong")
        #expect(response.header("Content-Type") == "text/plain")
    }

    @Test(arguments: [
        ("GET", "/2018-06-01/runtime/unknown", 404),
        ("GET", "/2018-07-01/runtime/invocation/next", 404),
        ("POST", "/2018-06-01/runtime/invocation/abc/whatever", 404),
        ("GET", "/2018-06-01/runtime/invocation/abc/whatever", 404),
        ("GET", "/2018-06-01/runtime/invocation//response", 404),
        ("POST", "/2018-06-01/runtime/invocation/abc/response/extra", 404),
        ("POST", "/2018-06-01/runtime/invocation/abc", 404),
        ("POST", "/2018-06-01/runtime/invocation/next", 405),
        ("GET", "/2018-06-01/runtime/invocation/abc/response", 405),
        ("PUT", "/2018-06-01/runtime/invocation/abc/error", 405),
        ("GET", "/2018-06-01/runtime/init/error", 405),
        ("POST", "/2018-06-01/ping", 405),
        ("GET", "/2018-06-01/pingpong", 404),
        ("GET", "/", 404),
        ("GET", "/2018-06-01/runtime/", 404),
        ("GET", "/2018-06-01/runtime/invocation/", 404),
        ("GET", "/2020-01-01/extension/register", 405),
        ("POST", "/2020-01-01/extension/event/next", 405),
        ("GET", "/2020-01-01/extension/init/error", 405),
        ("GET", "/2020-01-01/extension/exit/error", 405),
        ("GET", "/2020-01-01/extension/unknown", 404),
        ("POST", "/2020-01-01/extension", 404),
        ("POST", "/2022-07-01/telemetry", 405),
        ("GET", "/2020-08-15/logs", 405),
        ("PUT", "/2022-07-01/telemetry/x", 404),
    ])
    func unknownPathsAre404AndWrongMethods405(method: String, path: String, status: Int) throws {
        let environment = MachineEnvironment(pending: Self.request(id: "abc"))
        let runtime = try RuntimeConnection(environment)
        try runtime.send("\(method) \(path) HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        let response = try #require(try runtime.responses().first)
        #expect(response.status == status)
        let errorType = status == 404 ? "NotFound" : "MethodNotAllowed"
        #expect(response.text.contains(#""errorType":"\#(errorType)""#))
        #expect(environment.log.isEmpty, "the environment was not asked")
    }

    @Test func aQueryStringDoesNotChangeTheRoute() throws {
        let environment = MachineEnvironment(pending: Self.request(id: "req-1"))
        let runtime = try RuntimeConnection(environment)
        try runtime.send("GET \(Self.prefix)/invocation/next?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try runtime.responses().first?.header("Lambda-Runtime-Aws-Request-Id") == "req-1")
    }

    @Test func withoutKeepAliveEveryAnswerClosesTheConnection() throws {
        let environment = MachineEnvironment(pending: Self.request(id: "req-1"))
        let next = try RuntimeConnection(environment)
        try next.send(Self.next("Connection: close\r\n"))
        #expect(try next.responses().first?.status == 200)
        #expect(!next.channel.isActive, "closed after the event")

        let post = try RuntimeConnection(environment)
        try post.send(
            "POST \(Self.prefix)/invocation/req-1/response HTTP/1.0\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        let accepted = try #require(try post.responses().first)
        #expect(accepted.status == 202)
        #expect(accepted.header("Connection") == "close")
        #expect(!post.channel.isActive)

        let refused = try RuntimeConnection(environment)
        try refused.send(Self.post("invocation/zzz/response", "{}", "Connection: close\r\n"))
        #expect(try refused.responses().first?.header("Connection") == "close")
        #expect(!refused.channel.isActive)
    }
}

// MARK: the environment and the connections

/// An environment for the handler made of the real ``EnvironmentStateMachine`` on a test clock, performing the
/// effects ``ExecutionEnvironment`` performs for each of its actions (deliver, redeliver, park, reject) without a
/// process or timers, and logging what it was asked.
final class MachineEnvironment: RuntimeAPIEnvironment {
    typealias Machine = EnvironmentStateMachine<RuntimeAPIHandler, InvocationRequest>

    static let start = NIODeadline.uptimeNanoseconds(9_000_000_000_000)
    /// The wall clock at `start`, in epoch milliseconds.
    static let epochMsAtStart: Int64 = 1_700_000_000_000

    private var machine: Machine
    private var now = MachineEnvironment.start
    private var deadlineEpochMs: Int64 = 0
    private(set) var log: [String] = []

    init(pending: InvocationRequest?) {
        var limits = Machine.Limits()
        limits.invokeTimeout = .seconds(3)
        // The pending invoke fails with an /init/error at once (the re-run of INIT is the state machine's tests').
        limits.rerunsInit = false
        machine = Machine(pending: pending, limits: limits, now: Self.start)
    }

    func advance(_ milliseconds: Int64) { now = now + .milliseconds(milliseconds) }

    private var epochMs: Int64 { Self.epochMsAtStart + (now - Self.start).nanoseconds / 1_000_000 }

    func nextRequested(by waiter: RuntimeAPIHandler) {
        switch machine.nextRequested(by: waiter, now: now) {
        case .deliver(let request, _):
            deliver(request, to: waiter)
        case .redeliver(let request):
            log.append("redelivered(\(request.requestID))")
            waiter.deliver(request, deadlineEpochMs: deadlineEpochMs)
        case .park:
            log.append("park")
        case .hold:
            log.append("hold")
        case .reject, .rejectAndStop:
            log.append("reject")
            waiter.rejectNext()
        }
    }

    private func deliver(_ request: InvocationRequest, to waiter: RuntimeAPIHandler) {
        let deadline = machine.delivered(requestID: request.requestID, now: now)
        deadlineEpochMs = epochMs + machine.remainingMs(until: deadline, now: now)
        log.append("delivered(\(request.requestID))")
        waiter.deliver(request, deadlineEpochMs: deadlineEpochMs)
    }

    /// The pool hands over an invoke.
    func invoke(_ request: InvocationRequest) {
        switch machine.invoke(request, requestID: request.requestID) {
        case .deliver(let waiter): deliver(request, to: waiter)
        case .queued: log.append("queued")
        case .refuse: log.append("refused")
        }
    }

    /// The platform stops the environment.
    func stop() {
        if case .terminate(_, let waiters) = machine.stop(now: now) { for waiter in waiters { waiter.rejectNext() } }
        log.append("stopped")
    }

    func waiterGone(_ waiter: RuntimeAPIHandler) {
        log.append("waiterGone(\(machine.waiterGone(waiter)))")
    }

    func post(
        _ kind: ExecutionEnvironment.Machine.PostKind, requestID: String, body: ByteBuffer, contentType: String?,
        errorType: String?, errorCause: String?
    ) -> RuntimeAPIHandler.PostResult {
        let machineKind: Machine.PostKind = kind == .response ? .response : .error
        switch machine.posted(machineKind, requestID: requestID, now: now) {
        case .accept(let request, let durationMs, _, _, _):
            log.append(
                "\(kind == .response ? "response" : "error")(\(request.requestID), \(String(buffer: body)), "
                    + "\(contentType ?? "-"), \(errorType ?? "-"), \(durationMs) ms)")
            return .accepted
        case .invalidRequestID: return .invalidRequestID
        case .invalidState: return .invalidState
        }
    }

    func responseTooLarge(requestID: String) {
        if case .accept = machine.posted(.response, requestID: requestID, now: now) {
            log.append("responseTooLarge(\(requestID))")
        }
    }

    func initErrorPosted(body: ByteBuffer, errorType: String?) -> Bool {
        let result = machine.initErrorPosted(now: now)
        if result.accepted {
            log.append("initError(\(result.pending?.requestID ?? "-"), \(errorType ?? "-"), \(String(buffer: body)))")
        }
        return result.accepted
    }
}

/// One runtime connection to the environment's Runtime API: an `EmbeddedChannel` with the pipeline
/// ``ExecutionEnvironment`` builds for each connection (`RuntimeAPIHandler.addHandlers`: the request decoder, the
/// handler), fed raw bytes. Synchronous: an `EmbeddedEventLoop` may only be used from the thread that made it.
final class RuntimeConnection {
    let channel = EmbeddedChannel()
    private var reader = HTTPResponseReader()

    init(_ environment: MachineEnvironment) throws {
        try RuntimeAPIHandler.addHandlers(to: channel.pipeline.syncOperations, environment: environment)
        channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 40000), promise: nil)
    }

    deinit { _ = try? channel.finish() }

    func send(_ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
    }

    /// A chunked POST of `total` bytes (a JSON string of `x`s), in 1 MiB chunks.
    func sendChunked(path: String, total: Int) throws {
        try send(
            "POST \(RuntimeAPIHandlerTests.prefix)/\(path) HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        var left = total
        var first = true
        while left > 0 {
            let size = min(left, 1 << 20)
            var chunk = String(repeating: "x", count: size)
            if first { chunk = "\"" + chunk.dropFirst() }
            if left == size { chunk = chunk.dropLast() + "\"" }
            try send(String(size, radix: 16) + "\r\n" + chunk + "\r\n")
            left -= size
            first = false
        }
        try send("0\r\n\r\n")
    }

    /// Every complete response written since the last call (1xx included).
    func responses() throws -> [RawHTTPClient.Response] {
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            reader.append(buffer.readableBytesView)
        }
        return try reader.all()
    }
}
