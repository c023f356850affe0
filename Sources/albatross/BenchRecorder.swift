import Foundation
import InvocationModel
import NIOConcurrencyHelpers
import NIOCore

/// `bench`'s subscriber of the invocation event stream: the timestamps of every invocation and of every
/// environment's INIT, kept until the run is over and joined with the client's own times (``BenchDriver``).
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
    }
    struct Environment {
        var spawned: Int64?
        var ready: Int64?
    }
    /// What the listener said of a request (`--via`), by the trace root the client sent.
    struct FrontEnd {
        var requestID: String
        /// When the request head arrived.
        var received: Int64
        var albErrorReason: String?
    }
    private struct State {
        var invocations: [String: Invocation] = [:]
        var environments: [Int: Environment] = [:]
        var frontEnd: [String: FrontEnd] = [:]
    }

    let interests: InvocationEvent.Kinds
    private let state = NIOLockedValueBox(State())

    /// `frontEnd`: also the listener's `responseWritten` events with their request details (`--via`).
    init(frontEnd: Bool) {
        var kinds: InvocationEvent.Kinds = [.placements, .initStarted, .initFinished, .invokeStarted, .invokeFinished]
        if frontEnd { kinds.formUnion([.responseWritten, .requestDetails]) }
        interests = kinds
    }

    func receive(_ events: [InvocationEvent]) {
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
                    state.invocations[event.requestID, default: Invocation()].placement = name
                    if case .coldStart = placed.placement { state.invocations[event.requestID]!.placed = at }
                case .initStarted(let started):
                    state.environments[started.environment.id, default: Environment()].spawned = at
                case .initFinished(let finished):
                    if case .failed = finished.result { break }
                    state.environments[finished.environment.id, default: Environment()].ready = at
                case .invokeStarted(let started):
                    var invocation = state.invocations[event.requestID, default: Invocation()]
                    invocation.delivered = at
                    invocation.received = Int64(started.receivedAt.uptimeNanoseconds)
                    invocation.environment = started.environment.id
                    state.invocations[event.requestID] = invocation
                case .invokeFinished(let finished):
                    var invocation = state.invocations[event.requestID, default: Invocation()]
                    invocation.posted = at
                    invocation.errorType = finished.errorType
                    invocation.received = Int64(finished.receivedAt.uptimeNanoseconds)
                    invocation.environment = invocation.environment ?? finished.environment.id
                    state.invocations[event.requestID] = invocation
                case .responseWritten(let written):
                    guard let request = written.request, let trace = request.traceID,
                        let root = trace.range(of: "Root=")
                    else { break }
                    let id = String(trace[root.upperBound...].prefix { $0 != ";" })
                    state.frontEnd[id] = FrontEnd(
                        requestID: event.requestID, received: Int64(request.receivedAt.uptimeNanoseconds),
                        albErrorReason: written.albErrorReason)
                default:
                    break
                }
            }
        }
    }

    /// What the listener reported for the request that sent trace root `root`.
    func frontEnd(root: String) -> FrontEnd? {
        state.withLockedValue { $0.frontEnd[root] }
    }

    /// What was seen of `requestID`, and of the INIT of the environment it ran in (for a cold start).
    func lookup(_ requestID: String) -> (Invocation?, Environment?) {
        state.withLockedValue { state in
            guard let invocation = state.invocations[requestID] else { return (nil, nil) }
            return (invocation, invocation.environment.flatMap { state.environments[$0] })
        }
    }
}
