import NIOCore

/// The whole lifecycle of one execution environment (runtime-api.md §2), as a pure state machine.
///
/// ```
/// initializing ──first /next──► ready ──invoke──► invoking ──/response or /error──► responded ──/next──► ready
///      │ (INIT over its limit or failed, an invoke    ▲                              │ invoke (queued)
///      │  waiting: the process is replaced and INIT  └────────────/next─────────────┘
///      │  runs again under the function timeout)
///      │ /init/error, exit, timeout      │ exit, stop      │ timeout, exit, stop      │ exit, stop, timeout
///      └────────────────────────────────►┴────────────────►┴─────────────────────────►┴──► stopping ──exit──► terminated
/// ```
///
/// Events are `mutating func`s that take the current monotonic time and return what the owner must do; the
/// owner (``ExecutionEnvironment``) performs the effects (answering HTTP requests, completing promises, arming
/// and cancelling timers, signalling the process). Every duration of the lifecycle (INIT, the invoke, the
/// deadline handed to the runtime) is computed here from the times the events carry, so that a test clock
/// drives it completely. `Waiter` is the Runtime API connection whose `GET /next` is parked; `Pending` is an
/// invocation in flight.
///
/// Concurrent `/next` (runtime-api.md §1.2): one connection at a time is *the* poller (parked in `ready`, or the
/// one the event in flight was delivered on). A `/next` from any other connection is held, never rejected and
/// never given an event already delivered: it waits behind the current poller and becomes it when that one has
/// posted its result (or closed while parked). A `/next` re-asked on the connection that received the event in
/// flight, before its result, gets that event again, as RIE does; on another connection it is held instead, so
/// that one event never reaches two pollers. Held pollers get 403 only when the environment stops.
struct EnvironmentStateMachine<Waiter: AnyObject, Pending> {
    /// The limits of one environment.
    struct Limits {
        /// INIT of an on-demand environment (10 s on AWS).
        var initTimeout: TimeAmount = .seconds(10)
        /// The function timeout.
        var invokeTimeout: TimeAmount = .seconds(3)
        /// Between SIGTERM and SIGKILL when the platform stops the environment.
        var terminationGrace: TimeAmount = .seconds(2)
        /// How long a runtime that posted `/init/error` has to exit before it is killed.
        var initErrorExitGrace: TimeAmount = .milliseconds(500)
        /// Whether the first invoke's REPORT carries INIT's duration (on demand: yes; provisioned concurrency
        /// initialised ahead of traffic: no, runtime-api.md §10 item 4).
        var reportsInitDuration = true
        /// Whether a failed or overrunning INIT with an invoke waiting runs again inside that invoke (on demand, as
        /// AWS does); otherwise the invoke fails with INIT's error.
        var rerunsInit = true
    }

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
        /// The process was told to stop (or is expected to exit); nothing more is accepted. What happens to the
        /// invoke that is still `pending` (if any) when the process exits is `fate`.
        case stopping(pending: Pending?, fate: ExitFate)
        /// The process is gone.
        case terminated
    }

    /// What becomes of an invoke still held by a stopping environment once its process exits.
    enum ExitFate {
        /// It reached the runtime (or its INIT ran): it fails with `Runtime.ExitError`.
        case fail(duringInit: Bool)
        /// It was only queued: it runs elsewhere.
        case refuse
        /// INIT failed or overran its limit while it waited: INIT runs again in a new process, inside this invoke
        /// and under the function timeout (AWS's suppressed init, runtime-api.md §2.2).
        case rerun
    }

    enum PostKind {
        case response
        case error
    }

    /// What a `POST …/{id}/response` or `/error` gets.
    enum PostAction {
        /// 202; complete the invoke after `durationMs`. `offerToPool`: the environment is free again; false when
        /// it is being retired, and then `stop` says to stop it now that its invoke is over. `invokeOver`: a held
        /// `/next` was already waiting and is now parked (`ready`): cancel the invoke timer.
        case accept(Pending, durationMs: Double, initDurationMs: Double?, offerToPool: Bool, invokeOver: Bool)
        /// 400 `InvalidRequestID`.
        case invalidRequestID
        /// 403 `InvalidStateTransition`.
        case invalidState
    }

    enum NextAction {
        /// Deliver this invoke to the waiter, with the deadline `delivered(requestID:now:)` returns.
        /// `initDone` when this `/next` ended INIT (a cold start's first): cancel the INIT timer.
        case deliver(Pending, initDone: Bool)
        /// Send the in-flight invoke again (a `/next` before its result, as RIE does).
        case redeliver(Pending)
        /// Park the waiter; cancel the INIT and invoke timers. `becameReady` tells the pool the environment is
        /// free (and INIT done if it was).
        case park(becameReady: Bool, initDone: Bool)
        /// Keep the waiter parked behind the current poller (a concurrent `/next`); nothing else to do.
        case hold
        /// 403: the runtime cannot become ready (stopping or terminated).
        case reject
        /// The environment was being retired and its invoke is over: 403 to the waiter, then stop it.
        case rejectAndStop
    }

    enum InvokeAction {
        case deliver(to: Waiter)
        /// Held until the runtime asks for it.
        case queued
        /// Not ready (the pool raced with a state change): the invoker should pick another environment.
        case refuse(Pending)
    }

    /// What to do with the invoke an environment held when its process exited (the parked waiters are released
    /// besides, see ``processExited(now:)``).
    enum TerminationAction {
        /// The in-flight or pending invoke fails with `Runtime.ExitError`; `duringInit` says whether INIT was
        /// still running.
        case fail(Pending, duringInit: Bool, durationMs: Double)
        /// INIT failed with an invoke waiting: start the runtime again and call ``rerunStarted(now:)`` (the invoke
        /// stays pending).
        case rerun
        /// A queued invoke never reached the runtime: it can safely run elsewhere.
        case refuse(Pending)
        case none
    }

    /// What to do when a deadline passed.
    enum TimerAction {
        /// INIT overran its limit: report it (`Status: timeout`) and kill the process; with `rerun`, an invoke
        /// waits and INIT runs again once the process has exited.
        case initTimedOut(durationMs: Double, rerun: Bool)
        /// The invoke (or a suppressed INIT) ran out of time: fail it with `Sandbox.Timedout`, kill the process.
        case timeout(Pending, durationMs: Double)
        /// The runtime posted its result but did not ask for the next event in time: kill the process (a queued
        /// invoke is refused when it exits).
        case resetAfterResponse
        case none
    }

    /// What stopping the environment takes.
    enum StopAction {
        /// Send SIGTERM to the process group, then SIGKILL at `killAt` if it is still there; answer every parked
        /// `/next` of `releasing` with 403.
        case terminate(killAt: NIODeadline, releasing: [Waiter])
        /// Already stopping or gone.
        case none
    }

    private(set) var state: State
    let limits: Limits
    private let createdAt: NIODeadline
    /// INIT's duration, reported with the first invoke; nil once reported, or when INIT was suppressed.
    private var unreportedInitMs: Double?
    private(set) var suppressedInit = false
    /// The first invoke after a suppressed INIT has been charged with INIT's overrun (later ones are not).
    private var initOverrunCharged = false
    private var deliveredAt: NIODeadline?
    /// When the re-run of a failed INIT began (the invoke waiting for it counts from there).
    private var rerunStartedAt: NIODeadline?
    /// Stop once the current invoke is over (the version was retired).
    private(set) var retiring = false
    /// A stop was asked for before the process existed.
    private var stopRequested = false
    private var released = false
    /// Concurrent `/next`s waiting behind the current poller, oldest first.
    private var held: [Waiter] = []
    /// The connection the invoke in flight was delivered on: only it gets that invoke again.
    private var holder: Waiter?
    /// The extensions (runtime-api.md §1.9): INIT and each invoke wait for them.
    private(set) var extensions = ExtensionRegistry<Waiter>()
    /// The runtime's first `/next`, parked until every extension is ready too (INIT ends then).
    private var initWaiter: Waiter?
    /// The runtime is not started before every external extension has registered (AWS's Extension init comes
    /// before Runtime init).
    private var runtimeAwaitsRegistrations = false
    /// The runtime posted its result, an extension still works on the invoke: when it started (for Duration).
    private var extensionsFinishingSince: NIODeadline?

    init(pending: Pending?, limits: Limits = Limits(), now: NIODeadline = .now()) {
        self.state = .initializing(pending: pending)
        self.limits = limits
        self.createdAt = now
    }

    /// When INIT must be over (the owner arms the INIT timer for it).
    var initDeadline: NIODeadline { createdAt + limits.initTimeout }

    /// The process exists now. Returns whether it must be stopped at once: a stop, or a timeout, came before it.
    mutating func launched() -> Bool {
        if case .stopping = state { return true }
        return stopRequested
    }

    /// `GET /next` arrived.
    mutating func nextRequested(by waiter: Waiter, now: NIODeadline) -> NextAction {
        switch state {
        case .initializing:
            guard initWaiter == nil || initWaiter === waiter else {
                hold(waiter)
                return .hold
            }
            // INIT ends when the runtime and every extension have asked for their next event (runtime-api.md §2.2).
            guard extensions.initComplete else {
                initWaiter = waiter
                return .hold
            }
            return completeInit(waiter: waiter, now: now)
        case .ready(let parked):
            if parked !== waiter { hold(waiter) }
            return .hold
        case .invoking(let pending, _):
            // RIE re-renders the outstanding invoke when /next comes before its result (runtime-api.md §1.2); only
            // on the connection it went to, so that it never reaches a second poller.
            if waiter === holder { return .redeliver(pending) }
            hold(waiter)
            return .hold
        case .responded(let queued):
            if let queued {
                // Also when retiring: it was handed over before, and runs on the version it was resolved to.
                state = .invoking(queued, requestID: "")
                holder = waiter
                return .deliver(queued, initDone: false)
            }
            if retiring { return .rejectAndStop }
            state = .ready(waiter)
            return .park(becameReady: false, initDone: false)
        case .stopping, .terminated:
            return .reject
        }
    }

    /// INIT is over (the runtime's first `/next`, every extension ready).
    private mutating func completeInit(waiter: Waiter, now: NIODeadline) -> NextAction {
        initWaiter = nil
        guard case .initializing(let pending) = state else { return .hold }
        if !suppressedInit && limits.reportsInitDuration {
            unreportedInitMs = milliseconds(from: createdAt, to: now)
        }
        if let pending {
            state = .invoking(pending, requestID: "")
            holder = waiter
            return .deliver(pending, initDone: true)
        }
        state = .ready(waiter)
        return .park(becameReady: true, initDone: true)
    }

    private mutating func hold(_ waiter: Waiter) {
        if !held.contains(where: { $0 === waiter }) { held.append(waiter) }
    }

    /// Records the invoke being delivered (when the owner renders `/next`) and returns its deadline: the function
    /// timeout from now, or, for the invoke that waited through a suppressed INIT, what is left of it once INIT's
    /// overrun is counted.
    mutating func delivered(requestID: String, now: NIODeadline) -> NIODeadline {
        if case .invoking(let pending, _) = state {
            state = .invoking(pending, requestID: requestID)
        }
        guard suppressedInit, !initOverrunCharged else {
            deliveredAt = now
            return now + limits.invokeTimeout
        }
        // INIT ran again inside this invoke, under the function timeout (runtime-api.md §2.2): its time, and its
        // Duration, count from the re-run's start; the invokes after it have the whole timeout.
        initOverrunCharged = true
        let start = min(now, rerunStartedAt ?? initDeadline)
        deliveredAt = start
        return max(now, start + limits.invokeTimeout)
    }

    /// The remaining time of the invoke in flight, in milliseconds (for `Lambda-Runtime-Deadline-Ms`).
    func remainingMs(until deadline: NIODeadline, now: NIODeadline) -> Int64 {
        max(0, (deadline - now).nanoseconds / 1_000_000)
    }

    /// The connection of a parked `/next` closed. When it was the poller of a ready environment, the next held
    /// one takes its place, or, with none, the environment is no longer ready until the runtime asks again.
    /// Returns whether it was the poller of a ready environment.
    mutating func waiterGone(_ waiter: Waiter) -> Bool {
        // A closed connection can ask for nothing again: forget it as the holder of the invoke in flight too (so
        // that a closed handler is not kept until the result comes; the fuzz target found it kept).
        if holder === waiter { holder = nil }
        if initWaiter === waiter { initWaiter = nil }
        extensions.waiterGone(waiter)
        guard case .ready(let parked) = state, parked === waiter else {
            held.removeAll { $0 === waiter }
            return false
        }
        state = held.isEmpty ? .responded(queued: nil) : .ready(held.removeFirst())
        return true
    }

    /// The pool hands over an invoke.
    mutating func invoke(_ pending: Pending, requestID: String) -> InvokeAction {
        // Not free while an extension still works on the previous invoke.
        guard !retiring, extensionsFinishingSince == nil else { return .refuse(pending) }
        switch state {
        case .ready(let waiter):
            state = .invoking(pending, requestID: requestID)
            holder = waiter
            return .deliver(to: waiter)
        case .responded(nil):
            state = .responded(queued: pending)
            return .queued
        default:
            return .refuse(pending)
        }
    }

    /// `POST …/{id}/response` or `/error` arrived (body fully read).
    mutating func posted(_ kind: PostKind, requestID: String, now: NIODeadline) -> PostAction {
        switch state {
        case .invoking(let pending, let current):
            guard requestID == current else { return .invalidRequestID }
            holder = nil
            // The caller gets the result now; with an extension still working on the invoke, the environment is
            // free (and the invoke over) only once that extension asks for its next event.
            let extensionsWorking = extensions.anyWorking
            // A /next held behind this one already asked for the next event: the invoke is over.
            let promoted = !retiring && !held.isEmpty
            state = promoted ? .ready(held.removeFirst()) : .responded(queued: nil)
            let duration = deliveredAt.map { milliseconds(from: $0, to: now) } ?? 0
            if extensionsWorking { extensionsFinishingSince = deliveredAt ?? now }
            deliveredAt = nil
            let initMs = unreportedInitMs
            unreportedInitMs = nil
            return .accept(
                pending, durationMs: duration, initDurationMs: initMs, offerToPool: !retiring && !extensionsWorking,
                invokeOver: promoted && !extensionsWorking)
        case .responded, .ready:
            return .invalidRequestID
        case .initializing, .stopping, .terminated:
            return .invalidState
        }
    }

    /// `POST /init/error`: only valid during INIT. Returns the pending invoke (if any) to fail with the body, and
    /// INIT's duration; the owner kills the process if it has not exited after ``Limits/initErrorExitGrace``.
    /// A pending invoke is not failed when INIT can run again inside it (`rerun`): it stays with the machine until
    /// the process exits (``TerminationAction/rerun``).
    /// `rerunnable`: false for an extension's INIT failure (the extensions are not started again here).
    mutating func initErrorPosted(
        now: NIODeadline, rerunnable: Bool = true
    ) -> (accepted: Bool, pending: Pending?, initDurationMs: Double, rerun: Bool) {
        guard case .initializing(let pending) = state else { return (false, nil, 0, false) }
        initWaiter = nil
        let duration = milliseconds(from: rerunStartedAt ?? createdAt, to: now)
        if let pending, !suppressedInit, limits.rerunsInit, rerunnable {
            state = .stopping(pending: pending, fate: .rerun)
            return (true, nil, duration, true)
        }
        state = .stopping(pending: nil, fate: .refuse)
        return (true, pending, duration, false)
    }

    /// The runtime was started again for INIT's re-run: INIT is now suppressed (no Init Duration) and must end
    /// within the function timeout. Returns the deadline to arm the INIT timer for.
    mutating func rerunStarted(now: NIODeadline) -> NIODeadline {
        if case .stopping(let pending?, .rerun) = state { state = .initializing(pending: pending) }
        suppressedInit = true
        rerunStartedAt = now
        return now + limits.invokeTimeout
    }

    /// Whether INIT is being re-run inside the first invoke (its report says `Phase: invoke`).
    var initPhase: String { suppressedInit ? "invoke" : "init" }

    /// The INIT timer fired.
    mutating func initTimerFired(now: NIODeadline) -> TimerAction {
        guard case .initializing(let pending) = state else { return .none }
        guard let pending, suppressedInit else {
            // INIT overran its limit: the runtime is stopped; an invoke waiting for it gets INIT again, in a new
            // process under the function timeout (suppressed init); without one, the environment just ends.
            let rerun = pending != nil && limits.rerunsInit
            state = .stopping(pending: rerun ? pending : nil, fate: rerun ? .rerun : .refuse)
            return .initTimedOut(durationMs: milliseconds(from: createdAt, to: now), rerun: rerun)
        }
        // The re-run ran out of the function timeout.
        state = .stopping(pending: nil, fate: .refuse)
        return .timeout(pending, durationMs: Double(limits.invokeTimeout.nanoseconds) / 1e6)
    }

    /// The invoke timer of `requestID` fired.
    mutating func invokeTimerFired(requestID: String, now: NIODeadline) -> TimerAction {
        switch state {
        case .invoking(let pending, let current) where current == requestID:
            state = .stopping(pending: nil, fate: .refuse)
            let duration = deliveredAt.map { milliseconds(from: $0, to: now) } ?? 0
            deliveredAt = nil
            return .timeout(pending, durationMs: duration)
        case .responded(let queued):
            // A queued invoke stays pending: it is refused (and runs elsewhere) when the process exits.
            state = .stopping(pending: queued, fate: .refuse)
            extensionsFinishingSince = nil
            return .resetAfterResponse
        case .ready(let waiter) where extensionsFinishingSince != nil:
            // The function timeout bounds the whole invoke, extensions included (runtime-api.md §2.3).
            state = .stopping(pending: nil, fate: .refuse)
            extensionsFinishingSince = nil
            held.insert(waiter, at: 0)
            return .resetAfterResponse
        default:
            return .none
        }
    }

    /// The platform stops the environment now (shutdown, idle reaping): SIGTERM, then SIGKILL after the grace.
    /// An invoke still in flight fails when the process exits.
    mutating func stop(now: NIODeadline) -> StopAction {
        var releasing = held
        extensionsFinishingSince = nil
        switch state {
        case .stopping(let pending, .rerun):
            // Stopped while INIT was about to run again: the invoke fails instead when the process exits.
            state = .stopping(pending: pending, fate: .fail(duringInit: true))
            held = []
            holder = nil
            return .terminate(killAt: now + limits.terminationGrace, releasing: [])
        case .stopping, .terminated:
            return .none
        case .initializing(let pending):
            state = .stopping(pending: pending, fate: .fail(duringInit: true))
            if let initWaiter { releasing.insert(initWaiter, at: 0) }
            initWaiter = nil
        case .invoking(let pending, _):
            state = .stopping(pending: pending, fate: .fail(duringInit: false))
        case .responded(let queued):
            state = .stopping(pending: queued, fate: .refuse)
        case .ready(let waiter):
            state = .stopping(pending: nil, fate: .refuse)
            releasing.insert(waiter, at: 0)
        }
        held = []
        holder = nil
        return .terminate(killAt: now + limits.terminationGrace, releasing: releasing)
    }

    /// The version was retired: stop now if idle, else once the current invoke is over (drain, never kill).
    /// Returns whether to stop now.
    mutating func retire() -> Bool {
        retiring = true
        switch state {
        case .ready, .responded(nil): return true
        case .initializing(nil): return true
        case .initializing, .invoking, .responded: return false
        case .stopping, .terminated: return false
        }
    }

    /// A stop raced with the launch: remember it for ``launched()``.
    mutating func stopBeforeLaunch() {
        stopRequested = true
    }

    /// The process exited. Besides what becomes of the invoke it held, returns the parked `/next`s to answer
    /// with 403 (the poller of a ready environment first, then the held ones).
    mutating func processExited(now: NIODeadline) -> (action: TerminationAction, releasing: [Waiter]) {
        let previous = state
        state = .terminated
        var releasing = held
        if let initWaiter { releasing.append(initWaiter) }
        initWaiter = nil
        extensions.removeInternal()
        extensionsFinishingSince = nil
        held = []
        holder = nil
        let duration = deliveredAt.map { milliseconds(from: $0, to: now) } ?? 0
        let action: TerminationAction
        switch previous {
        case .initializing(let pending?) where !suppressedInit && limits.rerunsInit:
            // The runtime died during INIT with an invoke waiting: INIT runs again inside it.
            state = .stopping(pending: pending, fate: .rerun)
            action = .rerun
        case .initializing(let pending):
            // A re-run of INIT fails its invoke; its Duration counts from the re-run's start.
            let elapsed = suppressedInit ? milliseconds(from: rerunStartedAt ?? createdAt, to: now) : 0
            action = pending.map { .fail($0, duringInit: true, durationMs: elapsed) } ?? .none
        case .invoking(let pending, _):
            action = .fail(pending, duringInit: false, durationMs: duration)
        case .ready(let waiter):
            releasing.insert(waiter, at: 0)
            action = .none
        case .responded(let queued):
            action = queued.map { .refuse($0) } ?? .none
        case .stopping(let pending, let fate):
            switch (pending, fate) {
            case (nil, _): action = .none
            case (let pending?, .fail(let duringInit)):
                action = .fail(pending, duringInit: duringInit, durationMs: duration)
            case (let pending?, .refuse): action = .refuse(pending)
            case (_?, .rerun):
                state = previous
                action = .rerun
            }
        case .terminated:
            action = .none
        }
        return (action, releasing)
    }

    /// The runtime could not be started at all. Returns the invoke to fail.
    mutating func launchFailed() -> Pending? {
        let previous = state
        state = .terminated
        switch previous {
        case .initializing(let pending), .stopping(let pending, _): return pending
        default: return nil
        }
    }

    /// Whether the owner should release the environment's resources now (true exactly once, after it ended).
    mutating func releaseResources() -> Bool {
        guard case .terminated = state, !released else { return false }
        released = true
        return true
    }

    /// How long INIT ran until now.
    func initElapsedMs(now: NIODeadline) -> Double { milliseconds(from: createdAt, to: now) }

    var isTerminated: Bool {
        if case .terminated = state { return true }
        return false
    }

    // MARK: extensions (runtime-api.md §1.9)

    /// The external extensions are being started (off the event loop): one of them may register before
    /// ``extensionsLaunched(names:)`` says which were, and is external all the same.
    mutating func extensionsLaunching() {
        extensions.launchStarted()
    }

    /// The external extensions named were started. Returns whether the runtime may start now: it starts once every
    /// one of them has registered (Extension init comes before Runtime init).
    mutating func extensionsLaunched(names: [String]) -> Bool {
        extensions.expect(names)
        runtimeAwaitsRegistrations = !extensions.expected.isEmpty
        return !runtimeAwaitsRegistrations
    }

    enum RegisterAction: Equatable {
        /// 200 with the identifier; `startRuntime`: that was the last external extension to register.
        case registered(startRuntime: Bool)
        case refused(ExtensionRegistry<Waiter>.RegisterResult)
        /// Registration is possible only during INIT.
        case invalidState
    }

    /// `POST /extension/register`.
    mutating func extensionRegistered(
        name: String, events: Set<ExtensionRegistry<Waiter>.EventType>, id: String
    ) -> RegisterAction {
        guard case .initializing = state else { return .invalidState }
        let result = extensions.register(name: name, events: events, id: id)
        guard case .registered = result else { return .refused(result) }
        let start = runtimeAwaitsRegistrations && extensions.expected.isEmpty
        if start { runtimeAwaitsRegistrations = false }
        return .registered(startRuntime: start)
    }

    enum ExtensionNextAction {
        /// 403 `Extension.InvalidExtensionIdentifier`.
        case unknownIdentifier
        /// Answer with this event (it came while the extension was not parked).
        case deliver(String)
        /// Parked until an event comes.
        case park
        /// That was the last extension INIT waited for, and the runtime had asked: INIT is over; perform the action
        /// as for the runtime's `/next` on `runtime`.
        case initDone(NextAction, runtime: Waiter)
        /// That was the last extension the invoke waited for (the runtime posted its result before): the invoke is
        /// over after `durationMs`. `offerToPool`: the environment is free; `runtimeParked`: the runtime asked for
        /// its next event already (cancel the invoke timer); `stop`: it was retired and is idle now.
        case invokeOver(durationMs: Double, offerToPool: Bool, runtimeParked: Bool, stop: Bool)
    }

    /// `GET /extension/event/next` from the extension `id`.
    mutating func extensionNextRequested(id: String, by waiter: Waiter, now: NIODeadline) -> ExtensionNextAction {
        switch extensions.next(id: id, waiter: waiter) {
        case .unknown: return .unknownIdentifier
        case .deliver(let event): return .deliver(event)
        case .park: break
        }
        if case .initializing = state, let runtime = initWaiter, extensions.initComplete {
            return .initDone(completeInit(waiter: runtime, now: now), runtime: runtime)
        }
        guard let since = extensionsFinishingSince, !extensions.anyWorking else { return .park }
        extensionsFinishingSince = nil
        let duration = milliseconds(from: since, to: now)
        switch state {
        case .ready:
            return .invokeOver(durationMs: duration, offerToPool: !retiring, runtimeParked: true, stop: retiring)
        case .responded(nil):
            return .invokeOver(durationMs: duration, offerToPool: !retiring, runtimeParked: false, stop: false)
        default:
            return .invokeOver(durationMs: duration, offerToPool: false, runtimeParked: false, stop: false)
        }
    }

    /// An INVOKE event for the extensions subscribed to it (call right after ``delivered(requestID:now:)``):
    /// returns the parked ones to answer now.
    mutating func invokeExtensions(event: String) -> [Waiter] {
        extensions.send(event, to: .invoke)
    }

    /// The SHUTDOWN event for the extensions subscribed to it: returns the parked ones to answer now; the others
    /// get it when they ask.
    mutating func shutdownExtensions(event: String) -> [Waiter] {
        extensions.send(event, to: .shutdown)
    }

    /// The runtime waits for external extensions to register.
    var awaitsRegistrations: Bool { runtimeAwaitsRegistrations }

    /// The runtime is being started (it waits for no registration any more).
    mutating func runtimeStarting() {
        runtimeAwaitsRegistrations = false
    }

    /// Told to stop (or expected to exit).
    var isStopping: Bool {
        if case .stopping = state { return true }
        return false
    }

    /// Whether an extension still works on the invoke whose result the runtime posted (the invoke is not over).
    var extensionsFinishing: Bool { extensionsFinishingSince != nil }

    /// `POST /extension/init/error` from `id`: valid during INIT only. The owner then fails INIT as for the
    /// runtime's `/init/error`, without a re-run.
    func extensionInitErrorAllowed(id: String) -> Bool {
        guard extensions.slot(id: id) != nil, case .initializing = state else { return false }
        return true
    }

    enum ExtensionExitAction: Equatable {
        /// Nothing to do (the environment is ending anyway).
        case none
        /// It exited during INIT: INIT fails (`Extension.Crash`).
        case initFailed
        /// It exited while the environment served: reset the environment (stop it).
        case reset
    }

    /// An external extension's process exited (or could not be started).
    mutating func extensionExited(name: String) -> ExtensionExitAction {
        extensions.exited(name: name)
        switch state {
        case .initializing: return .initFailed
        case .stopping, .terminated: return .none
        case .ready, .invoking, .responded: return .reset
        }
    }

    private func milliseconds(from start: NIODeadline, to end: NIODeadline) -> Double {
        Double((end - start).nanoseconds) / 1e6
    }
}
