import NIOCore

/// The lifecycle of one execution environment (runtime-api.md §2), as a pure state machine.
///
/// ```
/// initializing ──first /next──► ready ──invoke──► invoking ──/response or /error──► responded ──/next──► ready
///                                                     ▲                              │ invoke (queued)
///                                                     └────────────/next─────────────┘
///      │ /init/error, exit              │ exit          │ timeout, exit                    │ exit
///      └───────────────────────────────►┴──────────────►┴─────────────────────────────────►┴──► terminated
/// ```
///
/// Events are `mutating func`s that return what the owner must do; the owner (``ExecutionEnvironment``)
/// performs the effects (answering HTTP requests, completing promises, killing the process). `Waiter` is the
/// Runtime API connection whose `GET /next` is parked; `Pending` is an invocation in flight.
struct EnvironmentStateMachine<Waiter: AnyObject, Pending> {
    enum State {
        /// Process started; INIT runs until the first `/next`. `pending` is the invoke that caused a cold start.
        case initializing(pending: Pending?)
        /// INIT done, `/next` parked, nothing to do: the pool may hand this environment an invoke.
        case ready(Waiter)
        /// An invoke was delivered and has no result yet.
        case invoking(Pending, requestID: String)
        /// The result is in; the invoke ends when the runtime asks for the next event. The pool already counts
        /// the environment as free: an invoke handed over now waits here (`queued`) for that `/next`, which is
        /// much cheaper than a cold start.
        case responded(queued: Pending?)
        case terminated
    }

    enum PostKind {
        case response
        case error
    }

    /// What a `POST …/{id}/response` or `/error` gets.
    enum PostAction {
        /// 202; complete the invoke.
        case accept(Pending)
        /// 400 `InvalidRequestID`.
        case invalidRequestID
        /// 403 `InvalidStateTransition`.
        case invalidState
    }

    enum NextAction {
        /// Deliver this invoke to the waiter. `initDone` when this `/next` ended INIT (a cold start's first).
        case deliver(Pending, initDone: Bool)
        /// Send the in-flight invoke again (a `/next` before its result, as RIE does).
        case redeliver(Pending)
        /// Park the waiter; `becameReady` tells the pool the environment is free (and INIT done if it was).
        case park(becameReady: Bool, initDone: Bool)
        /// 403: the runtime cannot become ready (terminated, or a second concurrent `/next`).
        case reject
    }

    enum InvokeAction {
        case deliver(to: Waiter)
        /// Held until the runtime asks for it.
        case queued
        /// Not ready (the pool raced with a state change): the invoker should pick another environment.
        case refuse(Pending)
    }

    enum TerminationAction {
        /// The in-flight or pending invoke fails; `duringInit` says whether INIT had finished.
        case fail(Pending, duringInit: Bool)
        /// A queued invoke never reached the runtime: it can safely run elsewhere.
        case refuse(Pending)
        case releaseWaiter(Waiter)
        case none
    }

    private(set) var state: State = .initializing(pending: nil)

    init(pending: Pending?) {
        state = .initializing(pending: pending)
    }

    /// `GET /next` arrived.
    mutating func nextRequested(by waiter: Waiter) -> NextAction {
        switch state {
        case .initializing(let pending):
            if let pending {
                state = .invoking(pending, requestID: "")
                return .deliver(pending, initDone: true)
            }
            state = .ready(waiter)
            return .park(becameReady: true, initDone: true)
        case .ready:
            return .reject
        case .invoking(let pending, _):
            // RIE re-renders the outstanding invoke when /next comes before its result (runtime-api.md §1.2).
            return .redeliver(pending)
        case .responded(let queued):
            if let queued {
                state = .invoking(queued, requestID: "")
                return .deliver(queued, initDone: false)
            }
            state = .ready(waiter)
            return .park(becameReady: false, initDone: false)
        case .terminated:
            return .reject
        }
    }

    /// Records the request id of the invoke being delivered (set by the owner when it renders `/next`).
    mutating func delivered(requestID: String) {
        if case .invoking(let pending, _) = state {
            state = .invoking(pending, requestID: requestID)
        }
    }

    /// The connection of the parked `/next` closed: the environment is no longer ready until the runtime asks
    /// again. Returns whether it was the parked waiter.
    mutating func waiterGone(_ waiter: Waiter) -> Bool {
        guard case .ready(let parked) = state, parked === waiter else { return false }
        state = .responded(queued: nil)
        return true
    }

    /// The pool hands over an invoke.
    mutating func invoke(_ pending: Pending, requestID: String) -> InvokeAction {
        switch state {
        case .ready(let waiter):
            state = .invoking(pending, requestID: requestID)
            return .deliver(to: waiter)
        case .responded(nil):
            state = .responded(queued: pending)
            return .queued
        default:
            return .refuse(pending)
        }
    }

    /// `POST …/{id}/response` or `/error` arrived (body fully read).
    mutating func posted(_ kind: PostKind, requestID: String) -> PostAction {
        switch state {
        case .invoking(let pending, let current):
            guard requestID == current else { return .invalidRequestID }
            state = .responded(queued: nil)
            return .accept(pending)
        case .responded, .ready:
            return .invalidRequestID
        case .initializing, .terminated:
            return .invalidState
        }
    }

    /// `POST /init/error`: only valid during INIT. Returns the pending invoke (if any) to fail with the body.
    mutating func initErrorPosted() -> (accepted: Bool, pending: Pending?) {
        guard case .initializing(let pending) = state else { return (false, nil) }
        state = .terminated
        return (true, pending)
    }

    /// The invoke timed out (only if it is still the one in flight).
    mutating func timedOut(requestID: String) -> Pending? {
        guard case .invoking(let pending, let current) = state, current == requestID else { return nil }
        state = .terminated
        return pending
    }

    /// The process exited, or the platform shuts the environment down.
    mutating func terminate() -> TerminationAction {
        let previous = state
        state = .terminated
        switch previous {
        case .initializing(let pending):
            if let pending { return .fail(pending, duringInit: true) }
            return .none
        case .invoking(let pending, _):
            return .fail(pending, duringInit: false)
        case .ready(let waiter):
            return .releaseWaiter(waiter)
        case .responded(let queued):
            if let queued { return .refuse(queued) }
            return .none
        case .terminated:
            return .none
        }
    }

    /// Whether the last invoke's result is in and the runtime has not asked for the next event yet.
    var isAwaitingNext: Bool {
        if case .responded = state { return true }
        return false
    }

    var isTerminated: Bool {
        if case .terminated = state { return true }
        return false
    }
}
