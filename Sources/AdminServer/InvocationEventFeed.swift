import Foundation
public import InvocationModel
import NIOConcurrencyHelpers
public import NIOCore
public import NIOPosix

/// The admin listener's invocation event stream (`/invocations/events`): what `albatross bench --server` needs of
/// the invocation events of a server it did not start, as a Server-Sent Events feed of compact text lines (one
/// `data:` line each), so that each of its samples is split into phases as exactly as when bench runs the server
/// in-process.
///
/// One line per invocation, not one per event: the feed's subscription thread joins an invocation's events by
/// request id (``InvocationFeedJoiner``) and writes its line once the invocation has ended, which is what makes the
/// feed cheap enough to follow a fast server (about a quarter of the bytes, the formatting and the client's parsing
/// that a line per event cost). The environments' INIT events have lines of their own, since they belong to an
/// environment, not to one invocation. It asks for no request details: the `responseWritten` event carries the
/// trace header and the head's arrival time itself.
///
/// It costs the server nothing while nobody listens: ``run(interval:)`` subscribes to the bus when the first client
/// connects and unsubscribes a second after the last one left. Bounded and never blocking: the subscription's queue
/// is bounded (what falls behind is dropped and counted, and every heartbeat says how many), the ``EventStream``
/// drops a client that does not read, and at most ``EventStream/Limits/maximumClients`` clients are served at once.
///
/// Lines: fields separated by one space, in a fixed order; `-` for a field that is absent. Timestamps are
/// `CLOCK_MONOTONIC` nanoseconds, comparable with a client's on the same machine (the admin listener is loopback).
/// Text fields are written with every byte at or below `0x20`, `%` and `0x7F` as `%XX` (and a text that is `-`
/// as `%2D`), so that a line never holds a space, a newline or a lone `-` it did not mean.
/// - `i ID ROOT RECEIVED PLACEMENT PLACED ENV INVOKE-RECEIVED DELIVERED POSTED STATUS ALB-REASON ERROR-TYPE`: an
///   invocation: its request id; the `Root=` of the trace header the listener forwarded and when the listener had
///   the request's head (`responseWritten`); the placement (`w` warm, `q` queued, `c` cold start, `t` throttled) and
///   its time (`placed`); the environment, when the invoke entered the platform, when the event was handed to the
///   runtime (`invokeStarted`) and when its response or error was posted (`invokeFinished`); the HTTP status the
///   listener wrote, the ALB's `error_reason` and the platform's error type (`invokeFinished`).
/// - `s ENV AT FUNCTION`: an environment's INIT started (`initStarted`).
/// - `f ENV AT RESULT`: its INIT ended (`initFinished`): `r` ready, `s` suppressed, `f` failed, `t` timed out.
/// - `l AT DROPPED`: a heartbeat every interval while subscribed, with the events the feed dropped so far. Every
///   event emitted before `AT` was sent before it, but for invocations still under way (neither `invokeFinished`
///   nor `responseWritten` yet): their events come with their line when they end.
///
/// An invocation's line is written when its last event arrives: `responseWritten` and `invokeFinished` both, or
/// `responseWritten` alone for an answer without an invoke (fixed responses, throttles); one that ends without
/// the other (an invoke through the admin listener or the control API has no `responseWritten`) is written with
/// the next heartbeat. An event that arrives after its invocation's line was written (rare: the two ends are
/// emitted on different event loops) gets a second line with the same id, whose fields complete the first.
public final class InvocationEventFeed: Sendable {
    /// The event kinds the feed carries.
    public static let kinds: InvocationEvent.Kinds = [
        .placements, .initStarted, .initFinished, .invokeStarted, .invokeFinished, .responseWritten,
    ]

    /// Events queued for the feed at most before they are dropped.
    public static let capacity = 200_000

    public let stream: EventStream
    private let bus: InvocationEventBus
    private let threadPool: NIOThreadPool
    private let subscription = NIOLockedValueBox<(InvocationEventSubscription, Formatter)?>(nil)

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
        // Events gather for up to this long before the feed's thread formats them (a heartbeat's flush cuts it
        // short): fewer wakes of that thread, and fewer, larger writes to the clients.
        let pause = min(0.02, Double(interval.nanoseconds) / 1e9)
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
                let active: (InvocationEventSubscription, Formatter)
                if let current {
                    active = current
                } else {
                    let (bus, stream) = (self.bus, self.stream)
                    guard
                        let made = try? await threadPool.runIfActive({
                            let formatter = Formatter(stream: stream)
                            return (
                                bus.subscribe(
                                    formatter, name: "admin-feed", capacity: Self.capacity, pause: pause),
                                formatter
                            )
                        })
                    else { break }
                    subscription.withLockedValue { $0 = made }
                    active = made
                }
                let at = NIODeadline.now().uptimeNanoseconds
                await active.0.flush()
                active.1.heartbeat(at: at, dropped: active.0.droppedEvents)
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
        guard let current = subscription.withLockedValue({ $0 })?.0 else { return }
        let bus = self.bus
        do {
            try await threadPool.runIfActive { bus.unsubscribe(current) }
        } catch {
            bus.unsubscribe(current)
        }
        subscription.withLockedValue { $0 = nil }
    }

    /// The bus subscriber: a batch of events becomes one SSE event with the lines it completes.
    private final class Formatter: InvocationEventSubscriber, Sendable {
        let stream: EventStream
        /// Locked: batches come on the subscription's thread, heartbeats from the feed's task.
        private let joiner = NIOLockedValueBox(InvocationFeedJoiner())
        var interests: InvocationEvent.Kinds { InvocationEventFeed.kinds }

        init(stream: EventStream) { self.stream = stream }

        func receive(_ events: [InvocationEvent]) {
            let text = joiner.withLockedValue { joiner -> [UInt8] in
                var text: [UInt8] = []
                text.reserveCapacity(events.count * 64)
                for event in events { joiner.add(event, to: &text) }
                return text
            }
            if !text.isEmpty { stream.broadcast(sse: String(decoding: text + [0x0A], as: UTF8.self)) }
        }

        /// After a flush of the subscription: the lines of the invocations that ended, then the heartbeat.
        func heartbeat(at: UInt64, dropped: Int) {
            let text = joiner.withLockedValue { joiner -> [UInt8] in
                var text: [UInt8] = []
                joiner.flushEnded(now: NIODeadline.now().uptimeNanoseconds, to: &text)
                text.append(contentsOf: "data: l".utf8)
                InvocationFeedJoiner.appendNumber(at, to: &text)
                InvocationFeedJoiner.appendNumber(UInt64(max(0, dropped)), to: &text)
                text.append(contentsOf: [0x0A, 0x0A])
                return text
            }
            stream.broadcast(sse: String(decoding: text, as: UTF8.self))
        }
    }
}

/// Joins the events of each invocation into one line of ``InvocationEventFeed`` (see there for the format), by
/// request id, on the feed's subscription thread: events of one invocation come from the front end's connection
/// loop and the environment's loop, in either order. Lines are written as bytes, numbers and fields without a
/// `String` of their own: a line cost about 42,000 instructions as interpolated strings (bench/README.md, "The
/// feed's lines written as bytes").
public struct InvocationFeedJoiner: Sendable {
    struct Pending {
        var traceID: String?
        var frontReceived: UInt64?
        var placement: Character?
        var placedAt: UInt64?
        var environment: Int?
        var received: UInt64?
        var delivered: UInt64?
        var posted: UInt64?
        var status: Int?
        var albErrorReason: String?
        var errorType: String?
        var finished = false
        var written = false
        /// From `responseWritten`: false when no invoke was attempted (no `invokeFinished` will come).
        var invoked = true
        /// The first event's time, to let go of an invocation whose end was never seen.
        var first: UInt64

        /// Nothing more is expected for it.
        var complete: Bool { written && (finished || !invoked || placement == "t") }
    }

    private var pending: [String: Pending] = [:]

    /// An invocation that has not ended after this long (the Lambda maximum timeout is 15 minutes) lost its end to a
    /// dropped event, and is let go of with the next heartbeat.
    static let abandonAfter: UInt64 = 16 * 60 * 1_000_000_000
    /// At most this many invocations are held; past it, every one is written as it stands.
    static let maximumPending = 100_000

    public init() {}

    /// Invocations joined but not written yet.
    public var pendingCount: Int { pending.count }

    /// Takes `event`; appends to `text` the SSE lines (`data: LINE\n`, UTF-8) it completes.
    public mutating func add(_ event: InvocationEvent, to text: inout [UInt8]) {
        let at = event.at.uptimeNanoseconds
        switch event.detail {
        case .initStarted(let started):
            text.append(contentsOf: "data: s".utf8)
            Self.appendNumber(UInt64(truncatingIfNeeded: started.environment.id), to: &text)
            Self.appendNumber(at, to: &text)
            text.append(0x20)
            Self.appendText(started.environment.functionName, to: &text)
            text.append(0x0A)
            return
        case .initFinished(let finished):
            let result: UInt8
            switch finished.result {
            case .ready: result = UInt8(ascii: "r")
            case .suppressed: result = UInt8(ascii: "s")
            case .failed: result = UInt8(ascii: "f")
            case .timedOut: result = UInt8(ascii: "t")
            }
            text.append(contentsOf: "data: f".utf8)
            Self.appendNumber(UInt64(truncatingIfNeeded: finished.environment.id), to: &text)
            Self.appendNumber(at, to: &text)
            text.append(contentsOf: [0x20, result, 0x0A])
            return
        case .placed, .invokeStarted, .invokeFinished, .responseWritten:
            break
        default:
            return
        }
        let id = event.requestID
        var entry = pending.removeValue(forKey: id) ?? Pending(first: at)
        switch event.detail {
        case .placed(let placed):
            switch placed.placement {
            case .warm: entry.placement = "w"
            case .queued: entry.placement = "q"
            case .coldStart: entry.placement = "c"
            case .throttled: entry.placement = "t"
            }
            entry.placedAt = at
        case .invokeStarted(let started):
            entry.environment = started.environment.id
            entry.received = started.receivedAt.uptimeNanoseconds
            entry.delivered = at
        case .invokeFinished(let finished):
            entry.environment = entry.environment ?? finished.environment.id
            entry.received = finished.receivedAt.uptimeNanoseconds
            entry.posted = at
            entry.errorType = finished.errorType
            entry.finished = true
        case .responseWritten(let written):
            entry.traceID = written.traceID
            entry.frontReceived = written.receivedAt?.uptimeNanoseconds
            entry.status = written.status
            entry.albErrorReason = written.albErrorReason
            entry.invoked = written.invoked
            entry.written = true
        default:
            break
        }
        if entry.complete {
            Self.append(id, entry, to: &text)
        } else {
            pending[id] = entry
        }
    }

    /// Appends the lines of the invocations that have ended (one of their ends arrived; the other one will not, or
    /// is late) and of those held too long, and lets go of them; the invocations still under way stay.
    public mutating func flushEnded(now: UInt64, to text: inout [UInt8]) {
        guard !pending.isEmpty else { return }
        let all = pending.count > Self.maximumPending
        var kept: [String: Pending] = [:]
        for (id, entry) in pending {
            if all || entry.finished || entry.written || now &- entry.first > Self.abandonAfter {
                Self.append(id, entry, to: &text)
            } else {
                kept[id] = entry
            }
        }
        pending = kept
    }

    private static func append(_ id: String, _ entry: Pending, to text: inout [UInt8]) {
        text.append(contentsOf: "data: i ".utf8)
        appendText(id, to: &text)
        text.append(0x20)
        if let trace = entry.traceID {
            appendRoot(of: trace, to: &text)
        } else {
            text.append(dash)
        }
        appendNumber(entry.frontReceived, to: &text)
        text.append(0x20)
        if let placement = entry.placement { text.append(contentsOf: placement.utf8) } else { text.append(dash) }
        appendNumber(entry.placedAt, to: &text)
        appendNumber(entry.environment.map { UInt64(truncatingIfNeeded: $0) }, to: &text)
        appendNumber(entry.received, to: &text)
        appendNumber(entry.delivered, to: &text)
        appendNumber(entry.posted, to: &text)
        appendNumber(entry.status.map { UInt64(truncatingIfNeeded: $0) }, to: &text)
        text.append(0x20)
        appendText(entry.albErrorReason, to: &text)
        text.append(0x20)
        appendText(entry.errorType, to: &text)
        text.append(0x0A)
    }

    private static let dash = UInt8(ascii: "-")

    /// A space, then `value` in decimal (`-` when nil).
    static func appendNumber(_ value: UInt64?, to text: inout [UInt8]) {
        guard var value else { return text.append(contentsOf: [0x20, dash]) }
        // A space and at most 20 digits, written from the end of a buffer on the stack, then appended in one go.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 21) { digits in
            var start = 21
            repeat {
                start -= 1
                digits[start] = UInt8(truncatingIfNeeded: 48 &+ value % 10)
                value /= 10
            } while value > 0
            start -= 1
            digits[start] = 0x20
            text.append(contentsOf: UnsafeBufferPointer(rebasing: digits[start..<21]))
        }
    }

    private static let rootKey: [UInt8] = Array("Root=".utf8)
    private static let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)

    /// The `Root=` value of a trace header (`Root=1-…` or `Self=…;Root=1-…;…`), as a text field (`-` without one).
    static func appendRoot(of trace: String, to text: inout [UInt8]) {
        var trace = trace
        trace.withUTF8 { bytes in
            let key = rootKey
            var index = 0
            while index + key.count <= bytes.count {
                if bytes[index] == key[0] && bytes[index + 1] == key[1] && bytes[index + 2] == key[2]
                    && bytes[index + 3] == key[3] && bytes[index + 4] == key[4]
                {
                    let start = index + key.count
                    var end = start
                    while end < bytes.count && bytes[end] != UInt8(ascii: ";") { end += 1 }
                    appendText(UnsafeBufferPointer(rebasing: bytes[start..<end]), to: &text)
                    return
                }
                index += 1
            }
            text.append(dash)
        }
    }

    /// A text field: `-` when absent or empty, and with the bytes that would break a line (at or below `0x20`, `%`,
    /// `0x7F`) as `%XX`.
    public static func appendText(_ value: String?, to text: inout [UInt8]) {
        guard var value else { return text.append(dash) }
        value.withUTF8 { appendText($0, to: &text) }
    }

    static func appendText(_ bytes: UnsafeBufferPointer<UInt8>, to text: inout [UInt8]) {
        if bytes.isEmpty { return text.append(dash) }
        if bytes.count == 1 && bytes[0] == dash { return text.append(contentsOf: "%2D".utf8) }
        // Most fields (ids, roots, error types) need no escape: one copy.
        if !bytes.contains(where: { $0 <= 0x20 || $0 == 0x25 || $0 == 0x7F }) { return text.append(contentsOf: bytes) }
        let hex = hexDigits
        for byte in bytes {
            if byte <= 0x20 || byte == 0x25 || byte == 0x7F {
                text.append(contentsOf: [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            } else {
                text.append(byte)
            }
        }
    }
}
