import Foundation
public import InvocationModel
import NIOConcurrencyHelpers
public import NIOCore
public import NIOPosix

/// The admin listener's invocation event stream (`/invocations/events`): what `albatross bench --server` needs of
/// the invocation events of a server it did not start, one JSON object per `data:` line of a Server-Sent Events
/// feed, so that each of its samples is split into phases as exactly as when bench runs the server in-process.
///
/// It costs the server nothing while nobody listens: ``run(interval:)`` subscribes to the bus when the first client
/// connects and unsubscribes a second after the last one left (so the front end builds no request details for
/// it otherwise). Bounded and never blocking: the subscription's queue is bounded (what falls behind is dropped and
/// counted, and every heartbeat says how many), the ``EventStream`` drops a client that does not read, and at most
/// ``EventStream/Limits/maximumClients`` clients are served at once.
///
/// Lines (timestamps `at`, `received` are `CLOCK_MONOTONIC` nanoseconds, comparable with a client's on the same
/// machine: the admin listener is loopback):
/// - `{"k":"placed","id","at","function","placement"}` (`warm`, `queued`, `coldStart`, `throttled`)
/// - `{"k":"initStarted","at","env","function"}`, `{"k":"initFinished","at","env","result"}` (`ready`, `suppressed`, `failed`, `timedOut`)
/// - `{"k":"invokeStarted","id","at","env","received"}`, `{"k":"invokeFinished","id","at","env","received","errorType"}`
/// - `{"k":"responseWritten","id","at","status","trace","received","albErrorReason"}`
/// - `{"k":"live","at","dropped"}`: a heartbeat every interval while subscribed; every event emitted before `at` was
///   sent before it, so a client that saw it has seen everything up to `at`.
public final class InvocationEventFeed: Sendable {
    /// The event kinds the feed carries.
    public static let kinds: InvocationEvent.Kinds = [
        .placements, .initStarted, .initFinished, .invokeStarted, .invokeFinished, .responseWritten, .requestDetails,
    ]

    /// Events queued for the feed at most before they are dropped.
    public static let capacity = 200_000

    public let stream: EventStream
    private let bus: InvocationEventBus
    private let threadPool: NIOThreadPool
    private let subscription = NIOLockedValueBox<InvocationEventSubscription?>(nil)

    /// - Parameters:
    ///   - bus: the application's event stream.
    ///   - threadPool: where subscribing and unsubscribing (which wait for a thread) run.
    public init(
        bus: InvocationEventBus, threadPool: NIOThreadPool, limits: EventStream.Limits = .init(maximumClients: 4)
    ) {
        self.bus = bus
        self.threadPool = threadPool
        self.stream = EventStream(limits: limits)
    }

    /// Whether the feed is subscribed to the bus now.
    public var isSubscribed: Bool { subscription.withLockedValue { $0 != nil } }

    /// Subscribes while anyone listens and sends the heartbeats, until the task is cancelled; then unsubscribes.
    public func run(interval: TimeAmount = .milliseconds(50)) async {
        var idleSince: NIODeadline?
        while !Task.isCancelled {
            let clients = stream.clientCount
            let current = subscription.withLockedValue { $0 }
            if clients == 0 && current == nil {
                // Nobody watches and nothing is subscribed: sleep until someone connects (a feed nobody reads
                // costs nothing, not a wake every interval).
                await stream.waitForClient()
                continue
            }
            if clients > 0 {
                idleSince = nil
                let active: InvocationEventSubscription
                if let current {
                    active = current
                } else {
                    let (bus, stream) = (self.bus, self.stream)
                    guard
                        let made = try? await threadPool.runIfActive({
                            bus.subscribe(Formatter(stream: stream), name: "admin-feed", capacity: Self.capacity)
                        })
                    else { break }
                    subscription.withLockedValue { $0 = made }
                    active = made
                }
                let at = NIODeadline.now().uptimeNanoseconds
                await active.flush()
                stream.broadcast(#"{"k":"live","at":\#(at),"dropped":\#(active.droppedEvents)}"#)
            } else if current != nil {
                let since = idleSince ?? .now()
                idleSince = since
                if NIODeadline.now() - since > .seconds(1) { await unsubscribe() }
            }
            try? await Task.sleep(nanoseconds: UInt64(interval.nanoseconds))
        }
        await unsubscribe()
    }

    /// Unsubscribes (what was queued is delivered first); ``isSubscribed`` is false once the bus has let go.
    private func unsubscribe() async {
        guard let current = subscription.withLockedValue({ $0 }) else { return }
        let bus = self.bus
        do {
            try await threadPool.runIfActive { bus.unsubscribe(current) }
        } catch {
            bus.unsubscribe(current)
        }
        subscription.withLockedValue { $0 = nil }
    }

    /// The feed's line for `event`, or nil for kinds it does not carry.
    public static func line(_ event: InvocationEvent) -> String? {
        let at = event.at.uptimeNanoseconds
        let id = quoted(event.requestID)
        switch event.detail {
        case .placed(let placed):
            let placement: String
            switch placed.placement {
            case .warm: placement = "warm"
            case .queued: placement = "queued"
            case .coldStart: placement = "coldStart"
            case .throttled: placement = "throttled"
            }
            return
                #"{"k":"placed","id":\#(id),"at":\#(at),"function":\#(quoted(placed.function)),"placement":"\#(placement)"}"#
        case .initStarted(let started):
            return
                #"{"k":"initStarted","at":\#(at),"env":\#(started.environment.id),"function":\#(quoted(started.environment.functionName))}"#
        case .initFinished(let finished):
            let result: String
            switch finished.result {
            case .ready: result = "ready"
            case .suppressed: result = "suppressed"
            case .failed: result = "failed"
            case .timedOut: result = "timedOut"
            }
            return #"{"k":"initFinished","at":\#(at),"env":\#(finished.environment.id),"result":"\#(result)"}"#
        case .invokeStarted(let started):
            return
                #"{"k":"invokeStarted","id":\#(id),"at":\#(at),"env":\#(started.environment.id),"received":\#(started.receivedAt.uptimeNanoseconds)}"#
        case .invokeFinished(let finished):
            return
                #"{"k":"invokeFinished","id":\#(id),"at":\#(at),"env":\#(finished.environment.id),"received":\#(finished.receivedAt.uptimeNanoseconds),"errorType":\#(quoted(finished.errorType))}"#
        case .responseWritten(let written):
            let received = written.request.map { String($0.receivedAt.uptimeNanoseconds) } ?? "null"
            return
                #"{"k":"responseWritten","id":\#(id),"at":\#(at),"status":\#(written.status),"trace":\#(quoted(written.request?.traceID)),"received":\#(received),"albErrorReason":\#(quoted(written.albErrorReason))}"#
        default:
            return nil
        }
    }

    /// `text` as a JSON string (`null` for nil).
    static func quoted(_ text: String?) -> String {
        guard let text else { return "null" }
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) { return "\"\(text)\"" }
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }

    /// The bus subscriber: a batch of events becomes one SSE event with a line per event.
    private final class Formatter: InvocationEventSubscriber, Sendable {
        let stream: EventStream
        var interests: InvocationEvent.Kinds { InvocationEventFeed.kinds }

        init(stream: EventStream) { self.stream = stream }

        func receive(_ events: [InvocationEvent]) {
            var text = ""
            text.reserveCapacity(events.count * 160)
            for event in events {
                guard let line = InvocationEventFeed.line(event) else { continue }
                if !text.isEmpty { text += "\n" }
                text += line
            }
            if !text.isEmpty { stream.broadcast(text) }
        }
    }
}
