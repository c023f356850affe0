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

        mutating func placed(_ id: String, at: Int64, placement: String) {
            invocations[id, default: Invocation()].placement = placement
            if placement == "coldStart" { invocations[id]!.placed = at }
        }

        mutating func invokeStarted(_ id: String, at: Int64, environment: Int, received: Int64) {
            var invocation = invocations[id, default: Invocation()]
            invocation.delivered = at
            invocation.received = received
            invocation.environment = environment
            invocations[id] = invocation
        }

        mutating func invokeFinished(_ id: String, at: Int64, environment: Int, received: Int64, errorType: String?) {
            var invocation = invocations[id, default: Invocation()]
            invocation.posted = at
            invocation.errorType = errorType
            invocation.received = received
            invocation.environment = invocation.environment ?? environment
            invocations[id] = invocation
        }

        /// A listener's answer, by the trace root the client sent (`Root=…`).
        mutating func responseWritten(_ id: String, trace: String?, received: Int64, albErrorReason: String?) {
            guard let trace, let root = trace.range(of: "Root=") else { return }
            let key = String(trace[root.upperBound...].prefix { $0 != ";" })
            frontEnd[key] = FrontEnd(requestID: id, received: received, albErrorReason: albErrorReason)
        }
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
                    state.placed(event.requestID, at: at, placement: name)
                case .initStarted(let started):
                    state.environments[started.environment.id, default: Environment()].spawned = at
                case .initFinished(let finished):
                    if case .failed = finished.result { break }
                    state.environments[finished.environment.id, default: Environment()].ready = at
                case .invokeStarted(let started):
                    state.invokeStarted(
                        event.requestID, at: at, environment: started.environment.id,
                        received: Int64(started.receivedAt.uptimeNanoseconds))
                case .invokeFinished(let finished):
                    state.invokeFinished(
                        event.requestID, at: at, environment: finished.environment.id,
                        received: Int64(finished.receivedAt.uptimeNanoseconds), errorType: finished.errorType)
                case .responseWritten(let written):
                    guard let request = written.request else { break }
                    state.responseWritten(
                        event.requestID, trace: request.traceID, received: Int64(request.receivedAt.uptimeNanoseconds),
                        albErrorReason: written.albErrorReason)
                default:
                    break
                }
            }
        }
    }

    /// The lines of a server's `/invocations/events` (``InvocationEventFeed``), as ``receive(_:)`` takes events
    /// in-process: the same timestamps, so the same phases. Lines it does not know are skipped.
    func receive(lines: [[String: FlatJSON.Value]]) {
        state.withLockedValue { state in
            for line in lines {
                guard case .string(let kind) = line["k"], let at = line["at"]?.integer else { continue }
                let id = line["id"]?.string ?? ""
                switch kind {
                case "placed":
                    if let placement = line["placement"]?.string { state.placed(id, at: at, placement: placement) }
                case "initStarted":
                    if let env = line["env"]?.integer {
                        state.environments[Int(env), default: Environment()].spawned = at
                    }
                case "initFinished":
                    // As in-process: only a failed INIT leaves the environment without a ready time.
                    if let env = line["env"]?.integer, line["result"]?.string != "failed" {
                        state.environments[Int(env), default: Environment()].ready = at
                    }
                case "invokeStarted":
                    if let env = line["env"]?.integer, let received = line["received"]?.integer {
                        state.invokeStarted(id, at: at, environment: Int(env), received: received)
                    }
                case "invokeFinished":
                    if let env = line["env"]?.integer, let received = line["received"]?.integer {
                        state.invokeFinished(
                            id, at: at, environment: Int(env), received: received, errorType: line["errorType"]?.string)
                    }
                case "responseWritten":
                    if let received = line["received"]?.integer {
                        state.responseWritten(
                            id, trace: line["trace"]?.string, received: received,
                            albErrorReason: line["albErrorReason"]?.string)
                    }
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
