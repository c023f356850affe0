import Bench
import Foundation
import InvocationModel
import NIOConcurrencyHelpers
import NIOCore

/// `bench`'s subscriber of the invocation event stream, and the reader of a server's event feed: the timestamps of
/// every invocation and of every environment's INIT, kept until the run is over and joined with the client's own
/// times (``BenchDriver``).
///
/// Requests sent through a listener (`--via`) carry a trace root with their index (``BenchTraceRoot``), so what the
/// listener reports of them goes into an array by that index; invocations are keyed by their request id as 128
/// bits (``RequestKey``). Neither needs a `String` to be hashed per event.
final class BenchRecorder: InvocationEventSubscriber {
    struct Invocation {
        var received: Int64?
        var placed: Int64?
        var placement: String?
        var environment: Int?
        var delivered: Int64?
        var posted: Int64?
        /// The platform's error type (`invokeFinished`), for `--via`, whose client sees only the HTTP status.
        var errorType: String?

        /// `other`'s fields where this one has none (two lines of one invocation).
        func completed(with other: Invocation?) -> Invocation {
            guard let other else { return self }
            var result = self
            result.received = received ?? other.received
            result.placed = placed ?? other.placed
            result.placement = placement ?? other.placement
            result.environment = environment ?? other.environment
            result.delivered = delivered ?? other.delivered
            result.posted = posted ?? other.posted
            result.errorType = errorType ?? other.errorType
            return result
        }
    }
    struct Environment {
        var spawned: Int64?
        var ready: Int64?
    }
    /// What the listener said of a request (`--via`), by the index of the trace root the client sent.
    struct FrontEnd {
        var requestID: RequestKey
        /// When the request head arrived.
        var received: Int64?
        var albErrorReason: String?
    }
    /// One request of this process through a listener: what the listener said of it and, from a server's feed,
    /// the invocation's own times on the same line.
    private struct Slot {
        var frontEnd: FrontEnd?
        var invocation = Invocation()
    }
    private struct State {
        var invocations: [RequestKey: Invocation] = [:]
        var environments: [Int: Environment] = [:]
        var slots: [Slot] = []
        /// Lines of the feed that could not be read.
        var malformed = 0

        mutating func placed(_ key: RequestKey, at: Int64, placement: String) {
            invocations[key, default: Invocation()].set(placement: placement, at: at)
        }

        /// The slot of trace-root index `index`, made when it is one this process has issued.
        mutating func slot(_ index: Int, issued: Int) -> Int? {
            guard index >= 0, index < issued else { return nil }
            if index >= slots.count {
                // In chunks, up to what has been issued: a slot per request would grow the array one at a time.
                slots.append(
                    contentsOf: repeatElement(Slot(), count: max(index + 1, min(issued, index + 4096)) - slots.count))
            }
            return index
        }
    }

    let interests: InvocationEvent.Kinds
    private let state = NIOLockedValueBox(State())

    /// `frontEnd`: also the listener's `responseWritten` events (`--via`).
    init(frontEnd: Bool) {
        var kinds: InvocationEvent.Kinds = [.placements, .initStarted, .initFinished, .invokeStarted, .invokeFinished]
        if frontEnd { kinds.formUnion([.responseWritten]) }
        interests = kinds
    }

    func receive(_ events: [InvocationEvent]) {
        let issued = BenchHTTPDriver.issuedRoots
        state.withLockedValue { state in
            for event in events {
                let at = Int64(event.at.uptimeNanoseconds)
                switch event.detail {
                case .placed(let placed):
                    let name: String
                    switch placed.placement {
                    case .warm: name = "warm"
                    case .queued: name = "queued"
                    case .coldStart: name = "coldStart"
                    case .throttled: name = "throttled"
                    }
                    state.placed(RequestKey(event.requestID), at: at, placement: name)
                case .initStarted(let started):
                    state.environments[started.environment.id, default: Environment()].spawned = at
                case .initFinished(let finished):
                    if case .failed = finished.result { break }
                    state.environments[finished.environment.id, default: Environment()].ready = at
                case .invokeStarted(let started):
                    state.invocations[RequestKey(event.requestID), default: Invocation()].started(
                        at: at, environment: started.environment.id,
                        received: Int64(started.receivedAt.uptimeNanoseconds))
                case .invokeFinished(let finished):
                    state.invocations[RequestKey(event.requestID), default: Invocation()].finished(
                        at: at, environment: finished.environment.id,
                        received: Int64(finished.receivedAt.uptimeNanoseconds), errorType: finished.errorType)
                case .responseWritten(let written):
                    guard var trace = written.traceID else { break }
                    let index = trace.withUTF8 { bytes -> Int? in
                        let bytes = UnsafeRawBufferPointer(bytes)
                        guard let root = Self.root(in: bytes) else { return nil }
                        return BenchTraceRoot.index(of: root, nonce: BenchHTTPDriver.rootNonce)
                    }
                    guard let index, let slot = state.slot(index, issued: issued) else { break }
                    state.slots[slot].frontEnd = FrontEnd(
                        requestID: RequestKey(event.requestID),
                        received: written.receivedAt.map { Int64($0.uptimeNanoseconds) },
                        albErrorReason: written.albErrorReason)
                default:
                    break
                }
            }
        }
    }

    /// The `Root=` value of a trace header.
    static func root(in trace: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        let key = Array("Root=".utf8)
        guard trace.count >= key.count else { return nil }
        for start in 0...(trace.count - key.count) where trace[start] == key[0] {
            guard (0..<key.count).allSatisfy({ trace[start + $0] == key[$0] }) else { continue }
            var end = start + key.count
            while end < trace.count && trace[end] != UInt8(ascii: ";") { end += 1 }
            return UnsafeRawBufferPointer(rebasing: trace[(start + key.count)..<end])
        }
        return nil
    }

    /// The lines of a server's `/invocations/events` (``InvocationEventFeed``), as ``receive(_:)`` takes events
    /// in-process: the same timestamps, so the same phases. `malformed`: lines that could not be read.
    func receive(feed lines: [FeedLine], malformed: Int) {
        let issued = BenchHTTPDriver.issuedRoots
        state.withLockedValue { state in
            state.malformed += malformed
            for line in lines {
                switch line {
                case .invocation(let line):
                    var invocation = Invocation()
                    if let placement = line.placement, let placed = line.placed {
                        invocation.set(placement: placement, at: placed)
                    } else {
                        invocation.placement = line.placement
                    }
                    invocation.environment = line.environment
                    invocation.received = line.received
                    invocation.delivered = line.delivered
                    invocation.posted = line.posted
                    invocation.errorType = line.errorType
                    if let index = line.rootIndex, let slot = state.slot(index, issued: issued) {
                        // Ours, through a listener: the whole invocation in its slot.
                        state.slots[slot].frontEnd = FrontEnd(
                            requestID: line.requestID, received: line.frontReceived,
                            albErrorReason: line.albErrorReason)
                        state.slots[slot].invocation = invocation.completed(with: state.slots[slot].invocation)
                    } else if !line.hasRoot {
                        // No listener (an invoke through the admin listener), or part of an invocation whose other
                        // part has the root.
                        state.invocations[line.requestID] = invocation.completed(
                            with: state.invocations[line.requestID])
                    }
                // Another client's request through a listener: not ours to keep.
                case .initStarted(let environment, let at):
                    state.environments[environment, default: Environment()].spawned = at
                case .initFinished(let environment, let at, let failed):
                    // As in-process: only a failed INIT leaves the environment without a ready time.
                    if !failed { state.environments[environment, default: Environment()].ready = at }
                case .live:
                    break
                }
            }
        }
    }

    /// Lines of the server's feed that could not be read.
    var malformedLines: Int { state.withLockedValue { $0.malformed } }

    /// What the listener reported for the request with trace-root index `index`, and its invocation and the INIT of
    /// the environment it ran in (for a cold start).
    func viaListener(index: Int) -> (FrontEnd?, Invocation?, Environment?) {
        state.withLockedValue { state in
            guard index >= 0, index < state.slots.count, let frontEnd = state.slots[index].frontEnd else {
                return (nil, nil, nil)
            }
            let invocation = state.slots[index].invocation.completed(with: state.invocations[frontEnd.requestID])
            return (frontEnd, invocation, invocation.environment.flatMap { state.environments[$0] })
        }
    }

    /// What was seen of `requestID`, and of the INIT of the environment it ran in (for a cold start).
    func lookup(_ requestID: String) -> (Invocation?, Environment?) {
        state.withLockedValue { state in
            guard let invocation = state.invocations[RequestKey(requestID)] else { return (nil, nil) }
            return (invocation, invocation.environment.flatMap { state.environments[$0] })
        }
    }
}

extension BenchRecorder.Invocation {
    mutating func set(placement: String, at: Int64) {
        self.placement = placement
        if placement == "coldStart" { placed = at }
    }

    mutating func started(at: Int64, environment: Int, received: Int64) {
        delivered = at
        self.received = received
        self.environment = environment
    }

    mutating func finished(at: Int64, environment: Int, received: Int64, errorType: String?) {
        posted = at
        self.errorType = errorType
        self.received = received
        self.environment = self.environment ?? environment
    }
}
