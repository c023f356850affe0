import AlbatrossTestKit
import Foundation
import Invocation
import InvocationModel
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Routing

@testable import LoadBalancer

/// Stands in for the invoker: records every request and answers with a canned outcome or error, or holds the
/// answer until the test gives it (to observe a connection while its function runs).
final class FakeInvocationService: InvocationService {
    enum Answer: Sendable {
        case outcome(InvocationOutcome)
        case failure(InvocationError)
        /// Keep the promise; ``complete(with:)`` answers the oldest one.
        case hold
    }

    private struct State {
        var answer: Answer
        var requests: [InvokeRequest] = []
        var held: [EventLoopPromise<InvocationOutcome>] = []
    }

    private let state: NIOLockedValueBox<State>

    init(_ answer: Answer) {
        state = NIOLockedValueBox(State(answer: answer))
    }

    var requests: [InvokeRequest] { state.withLockedValue { $0.requests } }

    func invoke(_ request: InvokeRequest, on eventLoop: any EventLoop) -> EventLoopFuture<InvocationOutcome> {
        let answer = state.withLockedValue { state -> Answer in
            state.requests.append(request)
            return state.answer
        }
        switch answer {
        case .outcome(let outcome):
            return eventLoop.makeSucceededFuture(outcome)
        case .failure(let error):
            return eventLoop.makeFailedFuture(error)
        case .hold:
            let promise = eventLoop.makePromise(of: InvocationOutcome.self)
            state.withLockedValue { $0.held.append(promise) }
            return promise.futureResult
        }
    }

    /// How the next invokes are answered.
    func answer(_ answer: Answer) {
        state.withLockedValue { $0.answer = answer }
    }

    /// Answers the oldest held invoke.
    func complete(with outcome: InvocationOutcome) {
        let promise = state.withLockedValue { $0.held.isEmpty ? nil : $0.held.removeFirst() }
        promise?.succeed(outcome)
    }

    /// A function's result (or, with `functionError`, its error document).
    static func outcome(_ payload: String, functionError: String? = nil, version: String = "7") -> InvocationOutcome {
        InvocationOutcome(
            requestID: "00000000-0000-4000-8000-000000000000", payload: ByteBuffer(string: payload),
            contentType: "application/json", functionError: functionError,
            errorType: functionError == nil ? nil : "Runtime.ExitError", executedVersion: version, durationMs: 1,
            initDurationMs: nil, logStreamName: "2026/01/01/[7]0123456789abcdef0123456789abcdef")
    }
}

/// Collects the front end's events.
final class RecordingSubscriber: InvocationEventSubscriber {
    let interests: InvocationEvent.Kinds = [.received, .responseWritten]
    private let recorded = NIOLockedValueBox<[InvocationEvent]>([])

    func receive(_ events: [InvocationEvent]) {
        recorded.withLockedValue { $0.append(contentsOf: events) }
    }

    var events: [InvocationEvent] { recorded.withLockedValue { $0 } }
}

/// One client connection to a listener: an `EmbeddedChannel` with the pipeline `LoadBalancer` builds for each
/// connection (HTTP/1.1 codec with pipelining, the ALB handler), fed raw bytes.
///
/// `LoadBalancer` puts an `IdleStateHandler` in front; it is left out here because it measures idleness with the
/// real clock, which `EmbeddedEventLoop.advanceTime` does not move: tests fire its event with ``idleTimeout()``.
/// Tests are synchronous: an `EmbeddedEventLoop` may only be used from the thread that made it, so events are
/// flushed with `flushBlocking()` (the test thread is no event loop).
final class Connection {
    /// The trace id's epoch field comes from this clock: 2023-11-14T22:13:20Z, `6553f100` in hex.
    static let clock = 1_700_000_000
    static let peer = try! SocketAddress(ipAddress: "203.0.113.7", port: 51234)

    let channel: EmbeddedChannel
    let service: FakeInvocationService
    let bus = InvocationEventBus()
    let recorder = RecordingSubscriber()
    let inFlight = InFlightTracker()
    private var reader = HTTPResponseReader()

    init(
        _ answer: FakeInvocationService.Answer = .outcome(FakeInvocationService.outcome(#"{"statusCode":200}"#)),
        listener: ListenerContext = Connection.listener(), seed: UInt64 = 42, observed: Bool = true
    ) throws {
        service = FakeInvocationService(answer)
        if observed { bus.subscribe(recorder, name: "test") }
        channel = EmbeddedChannel()
        let sync = channel.pipeline.syncOperations
        try LoadBalancer.addHTTPHandlers(
            to: sync,
            handler: ALBRequestHandler(
                listener: listener, invoker: service, events: bus, inFlight: inFlight, random: SplitMix64(seed: seed),
                now: { Connection.clock }),
            headerTimeout: .seconds(Int64(listener.attributes.requestHeaderTimeoutSeconds)))
        channel.localAddress = try SocketAddress(ipAddress: "127.0.0.1", port: listener.port)
        channel.connect(to: Self.peer, promise: nil)
    }

    deinit {
        bus.shutdown()
        _ = try? channel.finish()
    }

    /// What `IdleStateHandler` reports once the connection saw no traffic for the idle timeout.
    func idleTimeout() {
        channel.pipeline.fireUserInboundEventTriggered(IdleStateHandler.IdleStateEvent.all)
    }

    func send(_ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
    }

    func send(_ bytes: ByteBuffer) throws {
        try channel.writeInbound(bytes)
    }

    /// Every complete response written since the last call (1xx included). `head`: they answer HEAD requests.
    func responses(head: Bool = false) throws -> [RawHTTPClient.Response] {
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            reader.append(buffer.readableBytesView)
        }
        return try reader.all(forHead: head)
    }

    /// The front end's events so far, as `received(listener, rule, group)` / `responseWritten(status, bytes,
    /// reason)`, after checking that they all carry `requestID` (when given).
    func events() -> [String] {
        bus.flushBlocking()
        return recorder.events.map { event in
            switch event.detail {
            case .received(let received):
                return "received(\(received.listener), \(received.rule), \(received.targetGroup ?? "-"))"
            case .responseWritten(let written):
                return "responseWritten(\(written.status), \(written.bytes), \(written.albErrorReason ?? "-"))"
            default:
                return "unexpected \(event.kind)"
            }
        }
    }

    var eventRequestIDs: [String] {
        bus.flushBlocking()
        return recorder.events.map(\.requestID)
    }

    /// The event the front end built for the `index`th invoke, parsed.
    func invokedEvent(_ index: Int = 0) throws -> [String: Any] {
        let request = service.requests[index]
        return try JSONSerialization.jsonObject(with: Data(request.payload.readableBytesView)) as! [String: Any]
    }

    // MARK: the listener

    static let targetGroupARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/fn/0123456789abcdef"

    /// Rules: 10 `/fixed` → fixed 200, 20 `/old/*` → redirect to HTTPS:443, 30 `/empty` → a group without target,
    /// 40 `/nowhere` → a group that does not exist, 50 `/split` → blue:1 / green:3; default → `fn` (function
    /// `hello`, qualifier `live`).
    static func listener(
        port: Int = 8080, protocol listenerProtocol: ListenerProtocol = .http,
        attributes: LoadBalancerAttributes = LoadBalancerAttributes()
    ) -> ListenerContext {
        let configuration = ListenerConfiguration(
            port: port, protocol: listenerProtocol,
            rules: [
                ListenerRule(
                    priority: 10, conditions: [.pathPattern(["/fixed"])],
                    action: .fixedResponse(
                        FixedResponseAction(statusCode: 200, contentType: "text/plain", messageBody: "fixed body"))),
                ListenerRule(
                    priority: 20, conditions: [.pathPattern(["/old/*"])],
                    action: .redirect(RedirectAction(protocol: "HTTPS", port: "443", statusCode: 301))),
                ListenerRule(
                    priority: 30, conditions: [.pathPattern(["/empty"])],
                    action: .forward(ForwardAction(targetGroupName: "empty"))),
                ListenerRule(
                    priority: 40, conditions: [.pathPattern(["/nowhere"])],
                    action: .forward(ForwardAction(targetGroupName: "nowhere"))),
                ListenerRule(
                    priority: 50, conditions: [.pathPattern(["/split"])],
                    action: .forward(
                        ForwardAction(targetGroups: [
                            .init(targetGroupName: "blue", weight: 1), .init(targetGroupName: "green", weight: 3),
                        ]))),
            ],
            defaultAction: .forward(ForwardAction(targetGroupName: "fn")))
        let groups = [
            TargetGroup(name: "fn", arn: targetGroupARN, functionName: "hello", qualifier: "live"),
            TargetGroup(
                name: "empty", arn: targetGroupARN.replacingOccurrences(of: "/fn/", with: "/empty/"),
                functionName: nil),
            TargetGroup(
                name: "blue", arn: targetGroupARN.replacingOccurrences(of: "/fn/", with: "/blue/"),
                functionName: "blue-fn"),
            TargetGroup(
                name: "green", arn: targetGroupARN.replacingOccurrences(of: "/fn/", with: "/green/"),
                functionName: "green-fn"),
        ]
        return ListenerContext(
            configuration: configuration, boundPort: port, targetGroups: groups, attributes: attributes)
    }
}
