/// The phases one invocation is split into, in the order they happen; together they make up ``total`` exactly.
///
/// Every boundary is a monotonic timestamp of the same clock (`CLOCK_MONOTONIC`, what `NIODeadline` reads): the
/// client's own send and completion times, and the times of the platform's invocation events. See docs/bench.md.
public enum Phase: String, CaseIterable, Codable, Sendable {
    /// Intended send time → the request entered the platform. In-process and closed-loop this is the time between
    /// the client deciding to send and the invoker taking the request (a few microseconds); open-loop it includes
    /// the client's own lag behind its schedule (the coordinated-omission correction shows up here); through a
    /// listener it includes the HTTP request on the wire and its parsing.
    case send
    /// In the platform before the event was delivered, INIT excepted: resolving, placing, and on a warm or queued
    /// placement the wait for the runtime's `/next`.
    case queueing
    /// Cold starts only: placement → the runtime process exists (the environment is created, its Runtime API
    /// socket bound, the process spawned and its pid known on the environment's event loop).
    case initPlatform
    /// Cold starts only: the process exists → its first `GET /next` (the interpreter's start-up and the
    /// function's own INIT code).
    case initRuntime
    /// The event was delivered (the answer to `/next`) → the runtime posted its response.
    case invoke
    /// The response was posted → the client had the answer (the platform's way back, and through a listener the
    /// HTTP response).
    case returnPath
    /// Intended send time → the client had the answer.
    case total

    /// The phases that add up to ``total``.
    public static let parts: [Phase] = [.send, .queueing, .initPlatform, .initRuntime, .invoke, .returnPath]
}

/// The timestamps of one invocation, in nanoseconds of the monotonic clock; nil where the event was not seen.
public struct SampleTimes: Sendable, Hashable {
    /// When the client meant to send (open loop: the schedule's time, not the actual send).
    public var sent: Int64
    /// When the request entered the platform (the invoker's `receivedAt`, or the listener's `received` event).
    public var received: Int64?
    /// The pool's cold-start placement.
    public var placed: Int64?
    /// `initStarted`: the runtime process was spawned.
    public var spawned: Int64?
    /// `initFinished`: the runtime's first `/next`.
    public var ready: Int64?
    /// `invokeStarted`: the event was delivered.
    public var delivered: Int64?
    /// `invokeFinished`: the response (or error) was posted.
    public var posted: Int64?
    /// When the client had the answer.
    public var completed: Int64

    public init(
        sent: Int64, received: Int64? = nil, placed: Int64? = nil, spawned: Int64? = nil, ready: Int64? = nil,
        delivered: Int64? = nil, posted: Int64? = nil, completed: Int64
    ) {
        self.sent = sent
        self.received = received
        self.placed = placed
        self.spawned = spawned
        self.ready = ready
        self.delivered = delivered
        self.posted = posted
        self.completed = completed
    }

    /// The phases in nanoseconds, or nil when an event needed for them is missing (the invocation never reached
    /// a runtime, or an event was dropped). Cold starts (``placed``, ``spawned`` and ``ready`` known) have both
    /// INIT phases; others have none. The parts add up to ``Phase/total`` exactly.
    public var phases: [Phase: Int64]? {
        guard let received, let delivered, let posted else { return nil }
        var result: [Phase: Int64] = [:]
        result[.send] = received - sent
        var initTotal: Int64 = 0
        if let placed, let spawned, let ready {
            result[.initPlatform] = spawned - placed
            result[.initRuntime] = ready - spawned
            initTotal = ready - placed
        }
        result[.queueing] = delivered - received - initTotal
        result[.invoke] = posted - delivered
        result[.returnPath] = completed - posted
        result[.total] = completed - sent
        return result
    }
}

/// How an invocation ended, as the report counts it: only ``ok`` samples enter the latency percentiles.
public enum SampleOutcome: String, Codable, Sendable, CaseIterable {
    case ok
    /// The function returned an error (`Unhandled`), crashed, or its INIT failed.
    case functionError
    /// `Sandbox.Timedout`.
    case timeout
    /// Refused by a concurrency limit (429 / `TooManyRequestsException`).
    case throttled
    /// Any other failure before the function ran (unknown function, shutting down, a transport error).
    case failed
}

/// One invocation as the report keeps it.
public struct Sample: Codable, Sendable, Hashable {
    /// When it was meant to be sent, in milliseconds since the run started.
    public var startMs: Double
    public var outcome: SampleOutcome
    public var errorType: String?
    /// `coldStart`, `warm`, `queued`, or nil when it was not placed.
    public var placement: String?
    /// Each phase in milliseconds (names of ``Phase``); only the phases that apply.
    public var phasesMs: [String: Double]

    public init(
        startMs: Double, outcome: SampleOutcome, errorType: String? = nil, placement: String?,
        phasesMs: [String: Double]
    ) {
        self.startMs = startMs
        self.outcome = outcome
        self.errorType = errorType
        self.placement = placement
        self.phasesMs = phasesMs
    }

    public func phase(_ phase: Phase) -> Double? { phasesMs[phase.rawValue] }

    /// Builds a sample from its timestamps; `runStart` is the monotonic time the run began. A failed invocation
    /// keeps its client total only.
    public init(
        times: SampleTimes, runStart: Int64, outcome: SampleOutcome, errorType: String?, placement: String?
    ) {
        var phasesMs: [String: Double] = [:]
        if let phases = times.phases {
            for (phase, nanoseconds) in phases { phasesMs[phase.rawValue] = Double(nanoseconds) / 1e6 }
        } else {
            phasesMs[Phase.total.rawValue] = Double(times.completed - times.sent) / 1e6
        }
        self.init(
            startMs: Double(times.sent - runStart) / 1e6, outcome: outcome, errorType: errorType,
            placement: placement, phasesMs: phasesMs)
    }
}
