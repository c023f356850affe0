import ALBEvents
import CAlbatrossSupport
import Foundation
import InvocationModel
import LambdaModel
import NIOCore
import NIOHTTP1
import NIOPosix

/// An invoke travelling through an environment: the request and the caller's promise.
struct PendingInvocation: Sendable {
    var request: InvocationRequest
    var promise: EventLoopPromise<InvocationOutcome>
    /// The concurrency the pool placed it on (provisioned, spill-over, on-demand), for the events.
    var capacity: InvocationEvent.Capacity = .onDemand
    /// The pool that placed it: it gives back the account's execution and places a refused invoke again. nil
    /// for an invoke made without a pool.
    var pool: EnvironmentPool? = nil
    /// It holds an execution of the account's (``ConcurrencyLimiter``), given back when it completes.
    var holdsExecution = false
    /// How often it was placed again after a refusal (bounded by the pool).
    var attempt = 0

    /// The invoke is done: its execution is given back, then the caller is answered. The one way an
    /// environment completes an invoke it accepted (no callback per invoke on the promise for the execution).
    func succeed(_ outcome: InvocationOutcome) {
        if holdsExecution { pool?.releaseExecution() }
        promise.succeed(outcome)
    }

    /// The environment stopped being ready before it took the invoke: the pool places it again elsewhere.
    func refuse() {
        guard let pool else { return promise.fail(EnvironmentNotReady()) }
        pool.placeAgain(self)
    }
}

/// Refusal of an invoke by an environment that stopped being ready; the pool retries elsewhere.
struct EnvironmentNotReady: Error {}

/// Callbacks from an environment to its pool. Called on the environment's event loop.
struct EnvironmentPoolLink: Sendable {
    /// The runtime asked for the next event: the environment is free.
    var ready: @Sendable (Int) -> Void
    /// The runtime process is gone: the environment no longer holds a concurrency slot.
    var released: @Sendable (Int) -> Void
    /// The environment is gone (process reaped, output drained, resources closed).
    var terminated: @Sendable (Int) -> Void
}

/// One execution environment: a runtime process, its private Runtime API listener and its log stream.
///
/// All state lives on `loop`; other threads reach it through ``EnvironmentHandle``. Every lifecycle decision
/// (and every duration) is made by ``EnvironmentStateMachine``; this class only performs the effects: sockets,
/// the process, timers, promises, and the events it emits on ``EnvironmentSpec/events``.
final class ExecutionEnvironment {
    typealias Machine = EnvironmentStateMachine<RuntimeAPIHandler, PendingInvocation>

    let id: Int
    let loop: any EventLoop
    let spec: EnvironmentSpec
    let stream: LogStreamName
    /// `AWS_LAMBDA_INITIALIZATION_TYPE`: on demand, or provisioned ahead of traffic.
    let initializationType: InvocationEvent.InitializationType
    private let link: EnvironmentPoolLink
    private var machine: Machine

    private var serverChannel: (any Channel)?
    private var outputChannel: (any Channel)?
    /// The runtime's output reader (on `outputChannel`), and the extensions' (see ``OutputLineHandler``).
    private var outputReader: OutputLineHandler?
    private var extensionReaders: [OutputLineHandler] = []
    private var pid: pid_t?
    /// The runtime's process group (its pid), kept after the runtime exits so that what it left behind is killed.
    private var processGroup: pid_t?
    /// The runtime's record in `<data>/run`, removed once its process group was killed.
    private var runRecord: EnvironmentRunRecords.Entry?
    private var initTimer: Scheduled<Void>?
    /// The deadline and request id of the invoke whose timeout runs; nil when none does.
    private var invokeDue: (deadline: NIODeadline, requestID: String)?
    /// Fires at the earliest `invokeDue` it was armed for; one at a time, kept across invokes (so a busy environment
    /// schedules it about once a timeout, not once a request: scheduling and cancelling a task cost about 5,000
    /// instructions an invoke, bench/README.md). When it fires for an invoke that is over, it is armed again for
    /// the deadline of the one in flight, if any.
    private var invokeTimer: Scheduled<Void>?
    /// When `invokeTimer` fires.
    private var invokeTimerDeadline: NIODeadline?
    private var killTimer: Scheduled<Void>?
    /// Why the environment ends, for its `environmentStopped` event.
    private var stopReason: InvocationEvent.EnvironmentStopped.Reason?
    /// The environment's control group (see ``ControlGroups``); nil when the server has none.
    private let controlGroup: ControlGroup?
    /// The runtime's tree is frozen (cgroup freezer, or SIGSTOP to its process group without one).
    private var frozen = false
    /// Idle and not frozen yet: when it is to be frozen (``EnvironmentSpec/freezeDelay``); nil otherwise.
    private var freezeDue: NIODeadline?
    /// Fires at the earliest `freezeDue`; one at a time, kept across invokes (so a busy environment arms it once
    /// a delay, not once a request).
    private var freezeTimer: Scheduled<Void>?
    /// The group's peak memory in MB, read when the runtime exited (the group is removed soon after).
    private var exitPeakMB: Int?
    /// The group's peak memory file (``ControlGroup/peakFile``), made once: every `invokeFinished` carries it.
    private let memoryPeakFile: String?
    /// Without a memory group: the environment in ``EnvironmentSpec/memoryWatch``, once it has a process.
    private var memoryWatchToken: MemoryWatch.Token?
    /// The watch found the environment over MemorySize and its processes were killed for it.
    private var outOfMemoryKill: MemoryWatch.Exceeded?

    init(
        id: Int, loop: any EventLoop, spec: EnvironmentSpec, link: EnvironmentPoolLink, pending: PendingInvocation?,
        initializationType: InvocationEvent.InitializationType = .onDemand
    ) {
        self.id = id
        self.initializationType = initializationType
        self.loop = loop
        self.spec = spec
        self.link = link
        let logging = spec.function.logging
        let format = spec.function.effectiveLogFormat
        self.stream = LogStreamName.make(
            functionName: spec.function.name, version: spec.version,
            groupName: logging.logGroupName(functionName: spec.function.name), format: format,
            systemLogLevel: format == .json ? logging.systemLogLevel : nil)
        self.machine = Machine(
            pending: pending, limits: spec.limits(initializationType: initializationType), now: .now())
        self.controlGroup = spec.controlGroups?.group(named: String(stream.streamName.suffix(32)))
        self.memoryPeakFile = controlGroup?.peakFile
    }

    private var events: InvocationEventBus { spec.events }

    /// The environment's own `TMPDIR`: `<scratch root>/<the stream's 32 hex digits>`.
    private var scratchDirectory: String? {
        // In the sandbox, /tmp is the environment's own.
        guard spec.sandbox == nil else { return nil }
        return spec.scratchRoot.map { "\($0)/\(stream.streamName.suffix(32))" }
    }

    // MARK: start

    /// Binds the Runtime API listener, then launches the runtime on the thread pool.
    func start() {
        loop.preconditionInEventLoop()
        let bound = NIOLoopBound(self, eventLoop: loop)
        ServerBootstrap(group: loop)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 64)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try RuntimeAPIHandler.addHandlers(to: channel.pipeline.syncOperations, environment: bound.value)
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    self.serverChannel = channel
                    if self.machine.isTerminated {
                        self.releaseIfEnded()
                        return
                    }
                    self.runtimeAPIPort = channel.localAddress?.port ?? 0
                    self.launchExtensions()
                case .failure(let error):
                    self.failStart(
                        errorType: "Sandbox.Failure", message: "cannot open the Runtime API listener: \(error)")
                }
            }
        arm(&initTimer, at: machine.initDeadline) { $0.initTimerFired() }
    }

    /// The runtime's environment variables (the extensions get the same).
    private var processVariables: [String] {
        RuntimeEnvironmentBuilder.variables(
            spec: spec, runtimeAPI: "127.0.0.1:\(runtimeAPIPort)", logStreamName: stream.streamName,
            logGroupName: stream.groupName, scratchDirectory: scratchDirectory, initializationType: initializationType)
    }

    private func launch(runtimeAPIPort: Int) {
        machine.runtimeStarting()
        runtimeLaunchInFlight = true
        let spec = self.spec
        let scratch = scratchDirectory
        let stream = self.stream
        let initializationType = self.initializationType
        let bound = NIOLoopBound(self, eventLoop: loop)
        let loop = self.loop
        let group = controlGroup
        let existingSandbox = sandboxHolder
        spec.threadPool.runIfActive(eventLoop: loop) { () throws -> (LaunchedProcess, Sandbox.Holder?) in
            if let scratch {
                try FileManager.default.createDirectory(
                    atPath: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            }
            // The group exists (with its memory limit) before the child joins it, between fork and exec.
            try group?.create(memoryBytes: spec.memoryBytes)
            // The environment's sandbox: the extensions' when they started it, else started now (and ended here
            // again if the runtime cannot start: the environment then ends without it).
            var startedSandbox: Sandbox.Holder?
            do {
                var holder = existingSandbox
                if holder == nil, let sandbox = spec.sandbox {
                    holder = try Self.startSandbox(sandbox, spec: spec, group: group)
                    startedSandbox = holder
                }
                let process = try RuntimeLauncher.launch(
                    spec: spec, runtimeAPI: "127.0.0.1:\(runtimeAPIPort)", logStreamName: stream.streamName,
                    logGroupName: stream.groupName, scratchDirectory: scratch, initializationType: initializationType,
                    sandbox: holder, groupFiles: group?.joinFiles ?? [],
                    addressSpaceBytes: group?.limitsMemory == true ? 0 : spec.addressSpaceLimitBytes)
                return (process, startedSandbox)
            } catch {
                if let startedSandbox { Self.endSandbox(startedSandbox) }
                group?.remove()
                throw error
            }
        }.whenComplete { result in
            let environment = bound.value
            environment.runtimeLaunchInFlight = false
            switch result {
            case .success(let (process, startedSandbox)):
                if let startedSandbox { environment.adoptSandbox(startedSandbox) }
                environment.launched(process)
            case .failure(let error as RuntimeCommandError):
                environment.failStart(errorType: error.errorType, message: error.message)
            case .failure(let error as ControlGroupError):
                environment.failStart(errorType: "Sandbox.Failure", message: error.description)
            case .failure(let error as SandboxStartError):
                environment.failStart(errorType: "Sandbox.Failure", message: error.description)
            case .failure(let error):
                environment.failStart(errorType: "Runtime.InvalidEntrypoint", message: "\(error)")
            }
        }
    }

    /// The environment's sandbox (``Sandbox/Holder``), started before its first process; nil outside the sandbox
    /// or before. It lives as long as the environment (an INIT re-run keeps it, and its /tmp, as AWS keeps /tmp).
    private var sandboxHolder: Sandbox.Holder?

    /// Why the sandbox could not start.
    struct SandboxStartError: Error, CustomStringConvertible {
        var description: String
    }

    /// Starts the environment's sandbox in its control groups (on the thread pool), and reaps bwrap when it ends.
    private static func startSandbox(
        _ sandbox: Sandbox, spec: EnvironmentSpec, group: ControlGroup?
    ) throws -> Sandbox.Holder {
        let holder: Sandbox.Holder
        do {
            holder = try sandbox.start(
                spec: spec, groupFiles: group?.joinFiles ?? [],
                addressSpaceBytes: group?.limitsMemory == true ? 0 : spec.addressSpaceLimitBytes)
        } catch {
            throw SandboxStartError(description: "\(error)")
        }
        // Nothing to do when it exits: what ran in it has died with it, and the environment sees that.
        ProcessLauncher.reap(holder.pid) { _ in }
        return holder
    }

    /// Keeps the sandbox started on the thread pool, or ends it at once when the environment has already released
    /// its resources (it ended while the sandbox was starting).
    private func adoptSandbox(_ holder: Sandbox.Holder) {
        if resourcesReleased {
            Self.endSandbox(holder)
        } else {
            sandboxHolder = holder
        }
    }

    /// ``releaseIfEnded()`` has released the environment's resources.
    private var resourcesReleased = false

    /// Ends a sandbox (its init, so its PID namespace and everything in it).
    private static func endSandbox(_ holder: Sandbox.Holder) {
        holder.end()
    }

    private func launched(_ process: LaunchedProcess) {
        pid = process.pid
        processGroup = process.pid
        watchMemory(of: process.pid)
        if let records = spec.runRecords {
            // Written off the event loop and after the launch is reported, not before: the runtime's first /next
            // must not overtake this (its `initStarted` comes first).
            let entry = EnvironmentRunRecords.Entry(records: records, pid: process.pid)
            runRecord = entry
            spec.threadPool.submit { _ in entry.write() }
        }
        let bound = NIOLoopBound(self, eventLoop: loop)
        let loop = self.loop
        let group = controlGroup
        ProcessLauncher.reap(process.pid) { exit in
            // On the reaper thread: whether the kernel's OOM killer ended it, and the tree's peak, while the group
            // is still there.
            let outOfMemory = (group?.outOfMemoryKills() ?? 0) > 0
            let peakMB = group?.peakBytes().map { Int(($0 + 1_048_575) / 1_048_576) }
            loop.execute { bound.value.processExited(exit, outOfMemory: outOfMemory, peakMB: peakMB) }
        }
        let events = self.events
        let outputFD = process.outputFD
        NIOPipeBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let reader = OutputLineHandler(environment: bound.value, events: events, descriptor: outputFD)
                    try channel.pipeline.syncOperations.addHandler(reader)
                    bound.value.outputReader = reader
                }
            }
            .takingOwnershipOfDescriptor(input: process.outputFD)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .success(let channel): self.outputChannel = channel
                case .failure: close(process.outputFD)
                }
            }
        // INIT began with the extensions already when there are any (their output follows INIT_START).
        if !initStartEmitted { emitInitStarted(pid: process.pid) }
        initStartEmitted = false
        if machine.launched() { ProcessLauncher.killGroup(process.pid) }
    }

    /// `initStarted` went out at the extensions' start, before the runtime existed (its pid is then unknown).
    private var initStartEmitted = false

    private func emitInitStarted(pid: pid_t?) {
        guard events.wants(.initStarted) else { return }
        events.emit(
            InvocationEvent(
                requestID: "",
                detail: .initStarted(
                    .init(
                        environment: stream, version: spec.version,
                        runtimeVersion: RuntimeEnvironmentBuilder.runtimeVersion(spec.function.runtime),
                        pid: pid, createdAt: .now(), initializationType: initializationType,
                        suppressed: machine.suppressedInit))))
    }

    /// The runtime could not be started at all: the pending invoke fails and the environment is dropped.
    private func failStart(errorType: String, message: String) {
        let initMs = machine.initElapsedMs(now: .now())
        if let pending = machine.launchFailed() {
            emitInitFailed(durationMs: initMs, errorType: errorType, message: message)
            finish(
                pending, payload: Self.errorDocument(type: errorType, message: message),
                contentType: "application/json", errorType: errorType, status: "error", durationMs: 0,
                initDurationMs: nil)
        }
        stopReason = stopReason ?? .initFailed
        releaseIfEnded()
    }

    // MARK: Runtime API events

    func nextRequested(by waiter: RuntimeAPIHandler) {
        let now = NIODeadline.now()
        if events.wants(.runtimeNext) {
            events.emit(InvocationEvent(at: now, requestID: "", detail: .runtimeNext(.init(environment: stream))))
        }
        perform(machine.nextRequested(by: waiter, now: now), for: waiter, now: now)
    }

    /// What the runtime's `/next` on `waiter` (or, for INIT, the last extension to become ready) leads to.
    private func perform(_ action: Machine.NextAction, for waiter: RuntimeAPIHandler, now: NIODeadline) {
        switch action {
        case .deliver(let pending, let initDone):
            cancel(&initTimer)
            if initDone { initEnded(now: now) }
            deliver(pending, to: waiter, now: now)
        case .redeliver(let pending):
            waiter.deliver(pending.request, deadlineEpochMs: deadlineEpochMs)
        case .park(let becameReady, let initDone):
            cancel(&initTimer)
            if initDone { initEnded(now: now) }
            // With an extension still working on the invoke, the invoke (and its timer) is not over yet.
            if !machine.extensionsFinishing {
                invokeDue = nil
                // Idle, its runtime parked in /next: frozen until an invoke is placed on it.
                freezeWhenIdle()
            }
            if becameReady { link.ready(id) }
        case .hold:
            // A concurrent /next: parked behind the current poller until it is the poller and an event comes.
            break
        case .reject:
            waiter.rejectNext()
        case .rejectAndStop:
            invokeDue = nil
            waiter.rejectNext()
            stop(reason: retireReason ?? .retired)
        }
    }

    /// INIT is over (the runtime's first `/next`): what the runtime and the extensions wrote during it and their
    /// readers hold back (``OutputLineHandler``) goes out first, so that it comes before the first invoke's START,
    /// as on AWS. Once per environment.
    private func initEnded(now: NIODeadline) {
        outputReader?.drainHeldOutput()
        for reader in extensionReaders { reader.drainHeldOutput() }
        emitInitReady(now: now)
    }

    private func emitInitReady(now: NIODeadline) {
        guard events.wants(.initFinished) else { return }
        events.emit(
            InvocationEvent(
                at: now, requestID: "",
                detail: .initFinished(
                    .init(
                        environment: stream, durationMs: machine.initElapsedMs(now: now),
                        result: machine.suppressedInit ? .suppressed : .ready))))
    }

    private func emitInitFailed(
        durationMs: Double, errorType: String?, message: String?, willRerun: Bool = false
    ) {
        if willRerun { initFailureReported = true }
        guard events.wants(.initFinished) else { return }
        events.emit(
            InvocationEvent(
                requestID: "",
                detail: .initFinished(
                    .init(
                        environment: stream, durationMs: durationMs,
                        result: errorType.map { .failed(errorType: $0, message: message) } ?? .timedOut,
                        phase: machine.initPhase, willRerun: willRerun))))
    }

    /// The failure of the INIT being re-run was already reported (by the timer or `/init/error`).
    private var initFailureReported = false

    /// INIT failed or overran its limit with an invoke waiting: the old process group is gone; start the runtime
    /// again, INIT now inside the invoke and under the function timeout (AWS's suppressed init).
    private func rerunInit() {
        if let processGroup { ProcessLauncher.killGroup(processGroup) }
        processGroup = nil
        if let runRecord {
            spec.threadPool.submit { _ in runRecord.remove() }
            self.runRecord = nil
        }
        initFailureReported = false
        let deadline = machine.rerunStarted(now: .now())
        arm(&initTimer, at: deadline) { $0.initTimerFired() }
        launch(runtimeAPIPort: serverChannel?.localAddress?.port ?? 0)
    }

    /// A Runtime API connection closed: a parked `/next` before an event came, or the connection an invoke went to.
    func waiterGone(_ waiter: RuntimeAPIHandler) {
        // A /next held behind it takes its place; with none, the next invoke handed over waits for the runtime to
        // ask again (it normally reconnects at once), or is refused and retried elsewhere if the process exits.
        _ = machine.waiterGone(waiter)
    }

    /// The pool hands over an invoke.
    func invoke(_ pending: PendingInvocation) {
        // Before the event is handed over (its /next answered), so that the runtime runs when it arrives. Its
        // invokeStarted says it runs again; only a thaw that no invokeStarted follows has its own event.
        let wasFrozen = frozen
        thaw()
        switch machine.invoke(pending, requestID: pending.request.requestID) {
        case .deliver(let waiter):
            emitPlaced(pending, .warm)
            deliver(pending, to: waiter, now: .now())
        case .queued:
            if wasFrozen { emitFreeze(false) }
            emitPlaced(pending, .queued)
        case .refuse(let pending):
            if wasFrozen { emitFreeze(false) }
            pending.refuse()
        }
    }

    private func emitPlaced(_ pending: PendingInvocation, _ placement: InvocationEvent.Placed.Placement) {
        guard events.wants(.placement(placement)) else { return }
        events.emit(
            InvocationEvent(
                requestID: pending.request.requestID,
                detail: .placed(
                    .init(
                        function: spec.function.name, version: spec.version, placement: placement,
                        environment: stream, capacity: pending.capacity, qualifier: pending.request.qualifier))))
    }

    /// `Lambda-Runtime-Deadline-Ms` of the invoke in flight.
    private var deadlineEpochMs: Int64 = 0

    private func deliver(_ pending: PendingInvocation, to waiter: RuntimeAPIHandler, now: NIODeadline) {
        let request = pending.request
        let deadline = machine.delivered(requestID: request.requestID, now: now)
        deadlineEpochMs = WallClock.epochMilliseconds() + machine.remainingMs(until: deadline, now: now)
        if events.wants(.invokeStarted) {
            events.emit(
                InvocationEvent(
                    at: now, requestID: request.requestID,
                    detail: .invokeStarted(
                        .init(
                            environment: stream, version: spec.version, receivedAt: request.receivedAt,
                            capacity: pending.capacity, reportRequested: request.wantsReport,
                            qualifier: request.qualifier))))
        }
        waiter.deliver(request, deadlineEpochMs: deadlineEpochMs)
        if !machine.extensions.isEmpty {
            let event = invokeEvent(request)
            for extensionWaiter in machine.invokeExtensions(event: event) {
                extensionWaiter.deliverExtensionEvent(event)
            }
        }
        armInvokeTimer(at: deadline, requestID: request.requestID)
    }

    /// Starts the timeout of the invoke just delivered; ended by setting `invokeDue` to nil.
    private func armInvokeTimer(at deadline: NIODeadline, requestID: String) {
        invokeDue = (deadline, requestID)
        if let armed = invokeTimerDeadline, armed <= deadline { return }
        scheduleInvokeTimer(at: deadline)
    }

    private func scheduleInvokeTimer(at deadline: NIODeadline) {
        invokeTimer?.cancel()
        invokeTimerDeadline = deadline
        invokeTimer = loop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            invokeTimer = nil
            invokeTimerDeadline = nil
            guard let due = invokeDue else { return }
            if due.deadline <= deadline {
                invokeDue = nil
                invokeTimerFired(requestID: due.requestID)
            } else {
                // Armed for an invoke that is over since: the one in flight has a later deadline.
                scheduleInvokeTimer(at: due.deadline)
            }
        }
    }

    func post(
        _ kind: Machine.PostKind, requestID: String, body: ByteBuffer, contentType: String?, errorType: String?,
        errorCause: String?
    ) -> RuntimeAPIHandler.PostResult {
        switch machine.posted(kind, requestID: requestID, now: .now()) {
        case .accept(let pending, let duration, let initMs, let offerToPool, let invokeOver):
            // The timeout keeps running until the runtime asks for the next event (the invoke is not over before),
            // unless a held /next already has.
            if invokeOver { invokeDue = nil }
            if offerToPool { link.ready(id) }
            // An extension still at work: the caller gets the result now, the REPORT waits for the extension.
            let deferReport = machine.extensionsFinishing
            switch kind {
            case .response:
                finish(
                    pending, payload: body, contentType: contentType, errorType: nil, status: nil,
                    durationMs: duration, initDurationMs: initMs, deferReport: deferReport)
            case .error:
                let type = errorType ?? Self.errorType(in: body) ?? "Runtime.Unknown"
                finish(
                    pending, payload: body, contentType: "application/json", errorType: type, status: "error",
                    durationMs: duration, initDurationMs: initMs, errorCause: errorCause, deferReport: deferReport)
            }
            return .accepted
        case .invalidRequestID:
            return .invalidRequestID
        case .invalidState:
            return .invalidState
        }
    }

    /// The runtime posted a response over 6 MiB + 100 bytes.
    func responseTooLarge(requestID: String) {
        guard
            case .accept(let pending, let duration, let initMs, let offerToPool, let invokeOver) = machine.posted(
                .response, requestID: requestID, now: .now())
        else { return }
        if invokeOver { invokeDue = nil }
        if offerToPool { link.ready(id) }
        let message = "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
        let body = Self.errorDocument(type: "Function.ResponseSizeTooLarge", message: message)
        finish(
            pending, payload: body, contentType: "application/json", errorType: "Function.ResponseSizeTooLarge",
            status: "error", durationMs: duration, initDurationMs: initMs)
    }

    func initErrorPosted(body: ByteBuffer, errorType: String?) -> Bool {
        let phase = machine.initPhase
        let (accepted, pending, initMs, rerun) = machine.initErrorPosted(now: .now())
        guard accepted else { return false }
        cancel(&initTimer)
        if !rerun { stopReason = .initFailed }
        let type = errorType ?? Self.errorType(in: body) ?? "Runtime.Unknown"
        emitInitFailed(durationMs: initMs, errorType: type, message: nil, willRerun: rerun)
        if let pending {
            // A re-run's failure ends its invoke; the re-run counts as the invoke's Duration.
            finish(
                pending, payload: body, contentType: "application/json", errorType: type, status: "error",
                durationMs: phase == "invoke" ? initMs : 0, initDurationMs: nil)
        }
        // The runtime is expected to exit after posting; make sure it does.
        if pid != nil {
            arm(&killTimer, at: .now() + machine.limits.initErrorExitGrace) { $0.killProcess() }
        }
        return true
    }

    // MARK: timers and failures

    private func initTimerFired() {
        initTimer = nil
        let rerunning = machine.suppressedInit
        switch machine.initTimerFired(now: .now()) {
        case .initTimedOut(let durationMs, let rerun):
            // INIT_REPORT … Status: timeout; the process goes, and with an invoke waiting INIT runs again.
            emitInitFailed(durationMs: durationMs, errorType: nil, message: nil, willRerun: rerun)
            if !rerun { stopReason = .initFailed }
            killProcess()
            // An extension never registered, so the runtime never started: start it to end it (and INIT's re-run).
            if pid == nil && machine.awaitsRegistrations { launch(runtimeAPIPort: runtimeAPIPort) }
        case .timeout(let pending, let durationMs):
            if rerunning { emitInitFailed(durationMs: durationMs, errorType: nil, message: nil) }
            failTimedOut(pending, durationMs: durationMs)
        case .resetAfterResponse, .none:
            break
        }
    }

    private func invokeTimerFired(requestID: String) {
        switch machine.invokeTimerFired(requestID: requestID, now: .now()) {
        case .timeout(let pending, let durationMs):
            failTimedOut(pending, durationMs: durationMs)
        case .resetAfterResponse:
            // The result went out, but the runtime never came back for the next event: reset the environment.
            // A queued invoke is refused when the process exits and runs elsewhere.
            stopReason = .noNextAfterResponse
            lastRequestID = requestID
            killProcess()
        case .initTimedOut, .none:
            break
        }
    }

    /// The request id of the invoke that ended before a `noNextAfterResponse` reset, for its log line.
    private var lastRequestID = ""

    private func failTimedOut(_ pending: PendingInvocation, durationMs: Double) {
        stopReason = .timeout
        killProcess()
        let seconds = formatMilliseconds(Double(spec.function.timeout))
        let requestID = pending.request.requestID
        let body = Self.errorDocument(
            type: "Sandbox.Timedout", message: "RequestId: \(requestID) Error: Task timed out after \(seconds) seconds")
        let billedCap = Int(Double(spec.function.timeout) * 1000)
        finish(
            pending, payload: body, contentType: "application/json", errorType: "Sandbox.Timedout", status: "timeout",
            durationMs: durationMs, initDurationMs: nil, billedCapMs: billedCap)
        if pid == nil { releaseIfEnded() }
    }

    /// The runtime was reaped; `outOfMemory`: the kernel's OOM killer ended a process of its group.
    ///
    /// What it wrote last is read first, so that its lines come before INIT_REPORT, "Runtime exited", END and
    /// REPORT: the reaper's report can reach the loop before the pipe's last bytes are read. While the pipe holds
    /// unread bytes, the exit waits for the reader, a millisecond at a time, at most ``exitOutputWaits`` times (a
    /// child that inherited the pipe may keep writing); a held reader is drained at once.
    func processExited(
        _ exit: ProcessExit, outOfMemory groupOutOfMemory: Bool = false, peakMB: Int? = nil, outputWaits: Int = 0
    ) {
        if let outputReader, outputWaits < Self.exitOutputWaits, outputReader.unreadBytes > 0 {
            if outputReader.isHoldingRead {
                outputReader.drainHeldOutput()
            } else {
                loop.assumeIsolated().scheduleTask(in: .milliseconds(1)) { [self] in
                    processExited(
                        exit, outOfMemory: groupOutOfMemory, peakMB: peakMB, outputWaits: outputWaits + 1)
                }
                return
            }
        }
        if let pid, let memoryWatchToken { spec.memoryWatch?.remove(root: pid, from: memoryWatchToken) }
        pid = nil
        frozen = false
        let outOfMemory = groupOutOfMemory || outOfMemoryKill != nil
        exitPeakMB = peakMB ?? outOfMemoryKill?.peakMB
        // An INIT re-run starts a new runtime, watched anew.
        outOfMemoryKill = nil
        cancel(&killTimer)
        let phase = machine.initPhase
        let (action, releasing) = machine.processExited(now: .now())
        for waiter in releasing { waiter.rejectNext() }
        switch action {
        case .rerun:
            cancel(&initTimer)
            if !initFailureReported {
                let message = "Runtime exited with error: \(exit.description)"
                emitInitFailed(
                    durationMs: machine.initElapsedMs(now: .now()), errorType: "Runtime.ExitError", message: message,
                    willRerun: true)
            }
            rerunInit()
            return
        case .fail(let pending, let duringInit, let durationMs):
            let requestID = pending.request.requestID
            // AWS's wording: the exit as RAPID reports it, with the type saying why (runtime-api.md §1.7).
            let errorType = outOfMemory ? "Runtime.OutOfMemory" : "Runtime.ExitError"
            let message = "RequestId: \(requestID) Error: Runtime exited with error: \(exit.description)"
            if duringInit && phase == "invoke" {
                emitInitFailed(durationMs: durationMs, errorType: "Runtime.ExitError", message: nil)
            }
            finish(
                pending, payload: Self.errorDocument(type: errorType, message: message),
                contentType: "application/json", errorType: errorType, status: "error",
                durationMs: durationMs, initDurationMs: nil, errorMessage: message)
        case .refuse(let pending):
            pending.refuse()
        case .none:
            break
        }
        stopReason = stopReason ?? .exited(exit.description)
        releaseIfEnded()
    }

    /// Stops the environment: SIGTERM to its process group, SIGKILL after the termination grace.
    func stop(reason: InvocationEvent.EnvironmentStopped.Reason) {
        switch machine.stop(now: .now()) {
        case .terminate(let killAt, let waiters):
            stopReason = stopReason ?? reason
            for waiter in waiters { waiter.rejectNext() }
            // A frozen runtime would see neither the SIGTERM nor the rejected /next (nor an extension its SHUTDOWN).
            thaw()
            shutdownExtensions(reason: Self.shutdownReason(reason), killAt: killAt)
            if let pid {
                RuntimeLauncher.terminate(pid)
                arm(&killTimer, at: killAt) { $0.killProcess() }
            } else {
                machine.stopBeforeLaunch()
                // Stopped while the runtime waited for the extensions to register: start it now, it is ended at once
                // (``Machine/launched()``), and the environment with it.
                if machine.awaitsRegistrations { launch(runtimeAPIPort: runtimeAPIPort) }
            }
        case .none:
            break
        }
    }

    /// `shutdownReason` of the SHUTDOWN event (RAPID's lower-case spelling, runtime-api.md §1.9).
    static func shutdownReason(_ reason: InvocationEvent.EnvironmentStopped.Reason) -> String {
        switch reason {
        case .timeout, .noNextAfterResponse: return "timeout"
        case .initFailed, .exited: return "failure"
        case .idle, .retired, .shutdown, .lifetime, .deprovisioned: return "spindown"
        }
    }

    /// Retires the environment (its version was replaced, it reached its maximum lifetime, its provisioned
    /// concurrency was lowered): it stops now if idle, or once its invoke is over.
    func retire(reason: InvocationEvent.EnvironmentStopped.Reason = .retired) {
        retireReason = retireReason ?? reason
        if machine.retire() { stop(reason: reason) }
    }

    /// How many milliseconds an exit waits at most for the runtime's last output to be read.
    static let exitOutputWaits = 50

    /// Why it was retired, for the stop once its invoke is over.
    private var retireReason: InvocationEvent.EnvironmentStopped.Reason?

    private func killProcess() {
        killTimer = nil
        guard let pid else { return }
        ProcessLauncher.killGroup(pid)
        // A frozen process dies only once thawed.
        thaw()
    }

    // MARK: memory without a memory group

    /// Without a memory group, MemorySize is kept by the watch (``MemoryWatch``): `pid` (the runtime, an
    /// extension) and what it starts count, as a group would count them.
    private func watchMemory(of pid: pid_t) {
        guard controlGroup?.limitsMemory != true, let watch = spec.memoryWatch else { return }
        let token: MemoryWatch.Token
        if let memoryWatchToken {
            token = memoryWatchToken
        } else {
            let bound = NIOLoopBound(self, eventLoop: loop)
            let loop = self.loop
            token = watch.watch(limitBytes: spec.memoryBytes) { exceeded in
                loop.execute { bound.value.memoryExceeded(exceeded) }
            }
            memoryWatchToken = token
        }
        watch.add(root: pid, to: token)
    }

    /// The watch found the environment's processes holding more than MemorySize: they are killed, as the OOM
    /// killer of a group would kill them; the runtime's exit then fails the invoke (or INIT) with
    /// `Runtime.OutOfMemory` and ends the environment (``processExited(_:outOfMemory:peakMB:outputWaits:)``).
    private func memoryExceeded(_ exceeded: MemoryWatch.Exceeded) {
        // The watch forgets an environment it reported.
        memoryWatchToken = nil
        guard !resourcesReleased else { return }
        outOfMemoryKill = exceeded
        for extensionPID in extensionProcesses.keys { ProcessLauncher.killGroup(extensionPID) }
        killProcess()
    }

    // MARK: extensions (runtime-api.md §1.9)

    /// The port of the Runtime API listener (the extensions use the same one).
    private var runtimeAPIPort = 0
    /// The runtime is being spawned (a stopping machine has it killed as soon as it exists).
    private var runtimeLaunchInFlight = false
    /// The external extensions running: pid (also their process group) → file name.
    private var extensionProcesses: [pid_t: String] = [:]
    private var extensionOutputs: [any Channel] = []
    private var extensionKillTimer: Scheduled<Void>?
    /// SHUTDOWN went out (or the environment ended): the extensions are expected to exit.
    private var extensionsEnding = false
    /// The invoke's REPORT, held while an extension still works on it after the runtime posted its result.
    private var deferredReport: DeferredReport?

    /// Starts the external extensions, then the runtime once each of them has registered (or at once without any).
    private func launchExtensions() {
        // Without layers (or an image's /opt) there is no `extensions/` to look in (listing it is left to the
        // thread pool).
        if spec.layerRoot == nil && spec.image == nil {
            launch(runtimeAPIPort: runtimeAPIPort)
        } else {
            launchExtensionsOnPool()
        }
    }

    private func launchExtensionsOnPool() {
        // An extension can register before the pool's work below comes back to this loop with the names started.
        machine.extensionsLaunching()
        let spec = self.spec
        spec.telemetry?.follow(stream: stream.streamName)
        let scratch = scratchDirectory
        let environment = processVariables
        let group = controlGroup
        let bound = NIOLoopBound(self, eventLoop: loop)
        spec.threadPool.runIfActive(eventLoop: loop) {
            () throws -> ([ExtensionLauncher.Started], String?, Sandbox.Holder?) in
            if let scratch {
                try FileManager.default.createDirectory(
                    atPath: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            }
            try group?.create(memoryBytes: spec.memoryBytes)
            // The environment's sandbox, which the extensions join first and the runtime after them.
            let holder = try spec.sandbox.map { try Self.startSandbox($0, spec: spec, group: group) }
            let (started, failed) = ExtensionLauncher.launchAll(
                spec: spec, environment: environment, sandbox: holder, groupFiles: group?.joinFiles ?? [],
                addressSpaceBytes: group?.limitsMemory == true ? 0 : spec.addressSpaceLimitBytes)
            return (started, failed.map { "cannot start extension \($0.name): \($0.reason)" }, holder)
        }.whenComplete { result in
            let environment = bound.value
            switch result {
            case .success(let (started, failure, holder)):
                if let holder { environment.adoptSandbox(holder) }
                if !started.isEmpty {
                    // INIT starts with the extensions (AWS's INIT_START comes before their output).
                    environment.emitInitStarted(pid: nil)
                    environment.initStartEmitted = true
                }
                for extensionProcess in started { environment.extensionLaunched(extensionProcess) }
                let startRuntime = environment.machine.extensionsLaunched(names: started.map(\.name))
                if let failure {
                    environment.extensionInitFailed(errorType: "Extension.LaunchError", message: failure)
                } else if startRuntime || environment.machine.isStopping {
                    environment.launch(runtimeAPIPort: environment.runtimeAPIPort)
                }
            case .failure(let error as ControlGroupError):
                environment.failStart(errorType: "Sandbox.Failure", message: error.description)
            case .failure(let error as SandboxStartError):
                environment.failStart(errorType: "Sandbox.Failure", message: error.description)
            case .failure(let error):
                environment.failStart(errorType: "Extension.LaunchError", message: "\(error)")
            }
        }
    }

    private func extensionLaunched(_ started: ExtensionLauncher.Started) {
        let pid = started.process.pid
        extensionProcesses[pid] = started.name
        watchMemory(of: pid)
        let bound = NIOLoopBound(self, eventLoop: loop)
        let loop = self.loop
        ProcessLauncher.reap(pid) { exit in
            loop.execute { bound.value.extensionExited(pid: pid, exit) }
        }
        let events = self.events
        let outputFD = started.process.outputFD
        NIOPipeBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let reader = OutputLineHandler(
                        environment: bound.value, events: events, descriptor: outputFD, fromExtension: true)
                    try channel.pipeline.syncOperations.addHandler(reader)
                    bound.value.extensionReaders.append(reader)
                }
            }
            .takingOwnershipOfDescriptor(input: started.process.outputFD)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .success(let channel): self.extensionOutputs.append(channel)
                case .failure: close(started.process.outputFD)
                }
            }
    }

    private func extensionExited(pid: pid_t, _ exit: ProcessExit) {
        guard let name = extensionProcesses.removeValue(forKey: pid) else { return }
        if let memoryWatchToken { spec.memoryWatch?.remove(root: pid, from: memoryWatchToken) }
        ProcessLauncher.killGroup(pid)
        if extensionsEnding {
            if extensionProcesses.isEmpty { cancel(&extensionKillTimer) }
            releaseIfEnded()
            return
        }
        switch machine.extensionExited(name: name) {
        case .initFailed:
            extensionInitFailed(
                errorType: "Extension.Crash", message: "extension \(name) exited during INIT: \(exit.description)")
        case .reset:
            // AWS resets the environment when an extension crashes; the invoke in flight ends with the runtime.
            stop(reason: .exited("extension \(name): \(exit.description)"))
        case .none:
            releaseIfEnded()
        }
    }

    /// INIT failed because of an extension: the invoke waiting for it fails with `errorType` (no re-run: the
    /// extensions are not started again), the runtime is killed.
    private func extensionInitFailed(errorType: String, message: String) {
        let (accepted, pending, initMs, _) = machine.initErrorPosted(now: .now(), rerunnable: false)
        guard accepted else { return }
        cancel(&initTimer)
        stopReason = .initFailed
        emitInitFailed(durationMs: initMs, errorType: errorType, message: message)
        if let pending {
            let requestID = pending.request.requestID
            finish(
                pending,
                payload: Self.errorDocument(type: errorType, message: "RequestId: \(requestID) Error: \(message)"),
                contentType: "application/json", errorType: errorType, status: "error", durationMs: 0,
                initDurationMs: nil, errorMessage: message)
        }
        if pid != nil {
            killProcess()
        } else if !runtimeLaunchInFlight {
            // The runtime never started (it waited for the extensions' registrations): nothing else will end it.
            _ = machine.launchFailed()
            releaseIfEnded()
        }
    }

    func extensionRegister(name: String?, body: ByteBuffer) -> RuntimeAPIHandler.Reply {
        guard let name, !name.isEmpty else {
            return .error(.forbidden, "Extension.InvalidExtensionName", "Missing Lambda-Extension-Name header")
        }
        var events: Set<ExtensionRegistry<RuntimeAPIHandler>.EventType> = []
        if body.readableBytes > 0 {
            guard case .object(let object)? = try? JSONParser.parse(body) else {
                return .error(.badRequest, "InvalidRequestFormat", "The request body is not a JSON object")
            }
            if case .array(let list)? = object["events"] {
                for item in list {
                    guard case .string(let text) = item,
                        let type = ExtensionRegistry<RuntimeAPIHandler>.EventType(rawValue: text)
                    else {
                        return .error(.badRequest, "Extension.InvalidEventType", "Unknown event type in \(list)")
                    }
                    events.insert(type)
                }
            }
        }
        let id = UUID().uuidString.lowercased()
        switch machine.extensionRegistered(name: name, events: events, id: id) {
        case .registered(let startRuntime):
            if startRuntime { launch(runtimeAPIPort: runtimeAPIPort) }
            var buffer = ByteBuffer()
            buffer.writeStaticString(#"{"functionName":"#)
            buffer.writeJSONString(spec.function.name)
            buffer.writeStaticString(#","functionVersion":"#)
            buffer.writeJSONString(spec.version)
            buffer.writeStaticString(#","handler":"#)
            buffer.writeJSONString(spec.function.handler)
            buffer.writeStaticString("}")
            return .init(status: .ok, headers: [("Lambda-Extension-Identifier", id)], json: String(buffer: buffer))
        case .refused(.tooMany):
            return .error(
                .forbidden, "Extension.TooManyExtensions",
                "Too many extensions registered (at most \(ExtensionRegistry<RuntimeAPIHandler>.maximumCount))")
        case .refused(.shutdownNotAllowed):
            return .error(
                .forbidden, "ShutdownEventNotSupportedForInternalExtension",
                "Internal extensions cannot register for the SHUTDOWN event")
        case .refused(.duplicate):
            return .error(.forbidden, "Extension.AlreadyRegistered", "Extension \(name) is already registered")
        case .refused(.registered), .invalidState:
            return .error(
                .forbidden, "Extension.InvalidState", "Extensions can register only during the INIT phase")
        }
    }

    func extensionNextRequested(by waiter: RuntimeAPIHandler, identifier: String?) {
        guard let identifier else {
            waiter.rejectExtensionNext(
                .error(.forbidden, "Extension.MissingExtensionIdentifier", "Missing Lambda-Extension-Identifier header")
            )
            return
        }
        let now = NIODeadline.now()
        switch machine.extensionNextRequested(id: identifier, by: waiter, now: now) {
        case .unknownIdentifier:
            waiter.rejectExtensionNext(
                .error(.forbidden, "Extension.InvalidExtensionIdentifier", "Invalid Lambda-Extension-Identifier"))
        case .deliver(let event):
            waiter.deliverExtensionEvent(event)
        case .park:
            break
        case .initDone(let action, let runtime):
            perform(action, for: runtime, now: now)
        case .invokeOver(let durationMs, let offerToPool, let runtimeParked, let stopNow):
            completeDeferredReport(durationMs: durationMs)
            if runtimeParked {
                invokeDue = nil
                freezeWhenIdle()
            }
            if offerToPool { link.ready(id) }
            if stopNow { stop(reason: retireReason ?? .retired) }
        }
    }

    func extensionErrorPosted(
        exit: Bool, identifier: String?, errorType: String?, body: ByteBuffer
    )
        -> RuntimeAPIHandler.Reply
    {
        guard let identifier else {
            return .error(
                .forbidden, "Extension.MissingExtensionIdentifier", "Missing Lambda-Extension-Identifier header")
        }
        guard let slot = machine.extensions.slot(id: identifier) else {
            return .error(.forbidden, "Extension.InvalidExtensionIdentifier", "Invalid Lambda-Extension-Identifier")
        }
        let type = errorType ?? "Extension.Unknown"
        logOutput("EXTENSION\tName: \(slot.name)\tState: \(exit ? "ExitError" : "InitError")\tError Type: \(type)")
        if exit {
            // The extension is about to exit with an error: AWS resets the environment (after the invoke).
            retire(reason: .exited("extension \(slot.name): \(type)"))
            return .accepted
        }
        guard machine.extensionInitErrorAllowed(id: identifier) else {
            return .error(.forbidden, "Extension.InvalidState", "init/error is valid only during the INIT phase")
        }
        extensionInitFailed(
            errorType: "Extension.InitError", message: "extension \(slot.name) failed to initialize: \(type)")
        return .accepted
    }

    func telemetrySubscribe(identifier: String?, body: ByteBuffer) -> RuntimeAPIHandler.Reply {
        guard let identifier, let slot = machine.extensions.slot(id: identifier) else {
            return .error(.forbidden, "Extension.InvalidExtensionIdentifier", "Invalid Lambda-Extension-Identifier")
        }
        guard let telemetry = spec.telemetry else {
            return .error(.notFound, "NotFound", "The Telemetry API is not available")
        }
        do {
            let request = try TelemetrySubscriptionRequest.parse(body)
            telemetry.subscribe(stream: stream.streamName, extensionName: slot.name, request: request, loop: loop)
            telemetrySubscribed = true
            return .init(status: .ok, json: #""OK""#)
        } catch {
            return .error(.badRequest, "ValidationError", error.message)
        }
    }

    /// An extension subscribed to the Telemetry API: the idle environment is not frozen, so that its listener gets
    /// the records of the invoke that just ended (AWS delivers them while the environment runs).
    private var telemetrySubscribed = false

    /// The INVOKE event for the extensions (runtime-api.md §1.9).
    private func invokeEvent(_ request: InvocationRequest) -> String {
        var buffer = ByteBuffer()
        buffer.writeStaticString(#"{"eventType":"INVOKE","deadlineMs":"#)
        buffer.writeString(String(deadlineEpochMs))
        buffer.writeStaticString(#","requestId":"#)
        buffer.writeJSONString(request.requestID)
        buffer.writeStaticString(#","invokedFunctionArn":"#)
        buffer.writeJSONString(request.invokedFunctionARN)
        buffer.writeStaticString(#","tracing":{"type":"X-Amzn-Trace-Id","value":"#)
        buffer.writeJSONString(request.traceHeader)
        buffer.writeStaticString("}}")
        return String(buffer: buffer)
    }

    /// SHUTDOWN for the extensions subscribed to it, SIGKILL for every extension at `killAt`. Also when the
    /// environment ends for another reason (a crash, a timeout): AWS tells its extensions, then resets it.
    private func shutdownExtensions(reason: String, killAt: NIODeadline) {
        guard !extensionsEnding else { return }
        extensionsEnding = true
        if !extensionProcesses.isEmpty || !machine.extensions.isEmpty {
            let deadlineMs = WallClock.epochMilliseconds() + max(0, (killAt - .now()).nanoseconds / 1_000_000)
            let event = #"{"eventType":"SHUTDOWN","shutdownReason":"\#(reason)","deadlineMs":\#(deadlineMs)}"#
            for waiter in machine.shutdownExtensions(event: event) { waiter.deliverExtensionEvent(event) }
        }
        guard !extensionProcesses.isEmpty else { return }
        extensionKillTimer?.cancel()
        extensionKillTimer = loop.assumeIsolated().scheduleTask(deadline: killAt) { [self] in
            extensionKillTimer = nil
            for pid in extensionProcesses.keys { ProcessLauncher.killGroup(pid) }
            thaw()
        }
    }

    /// What a REPORT waits for while an extension finishes the invoke.
    private struct DeferredReport {
        var pending: PendingInvocation
        var outcome: InvocationOutcome
        var event: InvocationEvent.InvokeFinished?
    }

    /// The extensions are done with the invoke (or the environment ends): its REPORT goes out, with a Duration
    /// that covers the extensions' time after the response, as on AWS.
    private func completeDeferredReport(durationMs: Double?) {
        guard let report = deferredReport else { return }
        deferredReport = nil
        let request = report.pending.request
        if var event = report.event {
            let now = NIODeadline.now()
            if let durationMs {
                let initMs = event.initDurationMs ?? 0
                event.durationMs = durationMs
                event.billedDurationMs = max(1, Int((durationMs + initMs).rounded(.up)))
                let total = Double((now - request.receivedAt).nanoseconds) / 1e6
                event.overheadMs = max(0, total - durationMs - initMs)
            }
            let finished = event
            let events = self.events
            loop.execute {
                events.emit(InvocationEvent(at: now, requestID: request.requestID, detail: .invokeFinished(finished)))
                if request.wantsReport { report.pending.succeed(report.outcome) }
            }
        } else if request.wantsReport {
            loop.execute { report.pending.succeed(report.outcome) }
        }
    }

    // MARK: freeze and thaw

    /// Freezes the runtime's tree (``EnvironmentSpec/freezesIdle``): its group's freezer, or SIGSTOP to its
    /// process group without one. A single write to a kernel file (or a kill(2)) that does not wait for the
    /// processes, so it is done on the event loop, in order with the Runtime API's answers.
    /// This is the one place that knows whether the environment is frozen: it tells the event stream (`freeze`
    /// events, for `/status` and the metrics' environments by state).
    private func freeze() {
        guard spec.freezesIdle, !frozen, !telemetrySubscribed, let pid else { return }
        if let controlGroup {
            frozen = controlGroup.setFrozen(true)
        } else {
            frozen = kill(-pid, SIGSTOP) == 0
            for extensionPID in extensionProcesses.keys { _ = kill(-extensionPID, SIGSTOP) }
        }
        if frozen {
            if let memoryWatchToken { spec.memoryWatch?.setActive(false, memoryWatchToken) }
            emitFreeze(true)
        }
    }

    /// Freezes the idle environment now, or once it has stayed idle for ``EnvironmentSpec/freezeDelay``
    /// (`environments.freezeDelayMs`): an invoke placed before then finds it running, and nothing was written to
    /// the freezer for it.
    private func freezeWhenIdle() {
        guard spec.freezesIdle else { return }
        guard spec.freezeDelay > .zero else {
            freeze()
            return
        }
        let due = NIODeadline.now() + spec.freezeDelay
        freezeDue = due
        if freezeTimer == nil { armFreezeTimer(at: due) }
    }

    private func armFreezeTimer(at deadline: NIODeadline) {
        freezeTimer = loop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            freezeTimer = nil
            // Busy again (or ended) since: nothing to freeze. Busy and idle again: not idle long enough yet.
            guard let due = freezeDue else { return }
            if NIODeadline.now() >= due {
                freezeDue = nil
                freeze()
            } else {
                armFreezeTimer(at: due)
            }
        }
    }

    /// Thaws what ``freeze()`` froze. Sends no event: the invoke placed on it sends its `invokeStarted` (or the
    /// thaw, when none follows), an environment that stops its `environmentStopped`.
    private func thaw() {
        freezeDue = nil
        guard frozen else { return }
        frozen = false
        if let memoryWatchToken { spec.memoryWatch?.setActive(true, memoryWatchToken) }
        if let controlGroup {
            controlGroup.setFrozen(false)
        } else {
            if let processGroup { _ = kill(-processGroup, SIGCONT) }
            for extensionPID in extensionProcesses.keys { _ = kill(-extensionPID, SIGCONT) }
        }
    }

    private func emitFreeze(_ frozen: Bool) {
        guard events.wants(.freezes) else { return }
        events.emit(InvocationEvent(requestID: "", detail: .freeze(.init(environment: stream, frozen: frozen))))
    }

    /// Closes the listener and the output pipe once the environment has ended, then tells the pool.
    private func releaseIfEnded() {
        guard machine.isTerminated else { return }
        // The extensions end with the environment: SHUTDOWN (reason from why it ends) and SIGKILL at the deadline;
        // the environment is released once the last of them has exited.
        if !extensionProcesses.isEmpty {
            let reason = Self.shutdownReason(stopReason ?? .shutdown)
            shutdownExtensions(reason: reason, killAt: .now() + spec.terminationGrace)
            return
        }
        completeDeferredReport(durationMs: nil)
        guard machine.releaseResources() else { return }
        resourcesReleased = true
        // Whatever the runtime started in its process group (a `sleep 600 &`, a curl waiting in /next) ends with
        // it, and the concurrency slot is free at once, not after the output pipe is drained.
        if let processGroup { ProcessLauncher.killGroup(processGroup) }
        // The sandbox's PID namespace ends with its init: whatever is left in it, even what left every session and
        // process group, with or without control groups.
        if let sandboxHolder {
            Self.endSandbox(sandboxHolder)
            self.sandboxHolder = nil
        }
        thaw()
        if let memoryWatchToken {
            spec.memoryWatch?.end(memoryWatchToken)
            self.memoryWatchToken = nil
        }
        link.released(id)
        let scratch = scratchDirectory
        let runRecord = self.runRecord
        let group = controlGroup
        if scratch != nil || runRecord != nil || group != nil {
            // Off the event loop. The control group holds everything the runtime started, even what left its
            // process group (`setsid`): all of it is killed and the group removed. After that nothing writes in
            // the scratch directory any more, and nothing is left for a later server to end.
            spec.threadPool.submit { _ in
                group?.killAndRemove()
                if let scratch { try? FileManager.default.removeItem(atPath: scratch) }
                runRecord?.remove()
            }
        }
        cancel(&initTimer)
        cancel(&invokeTimer)
        invokeTimerDeadline = nil
        invokeDue = nil
        cancel(&killTimer)
        cancel(&freezeTimer)
        freezeDue = nil
        serverChannel?.close(promise: nil)
        serverChannel = nil
        // Output still buffered in the pipe is read until EOF; the stream is closed after it.
        let events = self.events
        let stopped = InvocationEvent.EnvironmentStopped(environment: stream, reason: stopReason ?? .shutdown)
        let requestID = lastRequestID
        let link = self.link
        let id = self.id
        let finishClose: @Sendable () -> Void = {
            if events.wants(.environmentStopped) {
                events.emit(InvocationEvent(requestID: requestID, detail: .environmentStopped(stopped)))
            }
            link.terminated(id)
        }
        let loop = self.loop
        // What the pipes still hold is read without waiting for the log path: nothing writes any more.
        // (The channels keep their readers; the environment lets go of them, which refer to it.)
        outputReader?.unthrottle()
        outputReader = nil
        for reader in extensionReaders { reader.unthrottle() }
        extensionReaders = []
        for channel in extensionOutputs {
            loop.assumeIsolated().scheduleTask(in: .milliseconds(200)) { channel.close(promise: nil) }
        }
        extensionOutputs = []
        cancel(&extensionKillTimer)
        if let outputChannel {
            // Always a loop tick later, after the finished event of the last invoke (see `finish`).
            outputChannel.closeFuture.whenComplete { _ in loop.execute { finishClose() } }
            // A runtime's grandchildren may keep the pipe open; do not wait for them.
            loop.assumeIsolated().scheduleTask(in: .milliseconds(200)) { outputChannel.close(promise: nil) }
        } else {
            // After the finished event of the last invoke, which `finish` emits one loop tick later.
            loop.execute { finishClose() }
        }
    }

    private func arm(
        _ timer: inout Scheduled<Void>?, at deadline: NIODeadline, _ body: @escaping (ExecutionEnvironment) -> Void
    ) {
        timer?.cancel()
        timer = loop.assumeIsolated().scheduleTask(deadline: deadline) { body(self) }
    }

    private func cancel(_ timer: inout Scheduled<Void>?) {
        timer?.cancel()
        timer = nil
    }

    // MARK: completing invokes

    private func finish(
        _ pending: PendingInvocation, payload: ByteBuffer, contentType: String?, errorType: String?, status: String?,
        durationMs: Double, initDurationMs initMs: Double?, billedCapMs: Int? = nil, errorMessage: String? = nil,
        errorCause: String? = nil, deferReport: Bool = false
    ) {
        let request = pending.request
        // Output held back by a log path that is behind (``OutputLineHandler``): what the runtime wrote before
        // the end of the invoke is in the pipe and goes out now, before END and REPORT.
        if let outputReader, outputReader.isHoldingRead { outputReader.drainHeldOutput() }
        var billed = Int((durationMs + (initMs ?? 0)).rounded(.up))
        if let billedCapMs { billed = min(billed, billedCapMs + Int((initMs ?? 0).rounded(.up))) }
        let outcome = InvocationOutcome(
            requestID: request.requestID, payload: payload, contentType: contentType,
            functionError: errorType == nil ? nil : "Unhandled", errorType: errorType, executedVersion: spec.version,
            durationMs: durationMs, initDurationMs: initMs, logStreamName: stream.streamName)
        let events = self.events
        if events.wants(.invokeFinished) {
            let now = NIODeadline.now()
            let total = Double((now - request.receivedAt).nanoseconds) / 1e6
            var event = InvocationEvent.InvokeFinished(
                environment: stream, version: spec.version, memorySizeMB: spec.function.memorySize,
                initDurationMs: initMs, durationMs: durationMs, billedDurationMs: max(billed, 1),
                overheadMs: max(0, total - durationMs - (initMs ?? 0)), status: status, errorType: errorType,
                errorMessage: errorMessage, timeoutSeconds: spec.function.timeout, pid: pid,
                receivedAt: request.receivedAt, deliveredAt: nil, reportRequested: request.wantsReport,
                xrayErrorCause: errorCause, memoryPeakFile: memoryPeakFile, memoryPeakMB: exitPeakMB,
                qualifier: request.qualifier)
            event.capacity = pending.capacity
            if deferReport {
                deferredReport = DeferredReport(pending: pending, outcome: outcome, event: event)
                if !request.wantsReport { pending.succeed(outcome) }
                return
            }
            let finished = event
            // One loop tick later, so output the runtime wrote before posting (already in the pipe) is emitted
            // first.
            loop.execute {
                events.emit(InvocationEvent(at: now, requestID: request.requestID, detail: .invokeFinished(finished)))
                if request.wantsReport { pending.succeed(outcome) }
            }
        } else if request.wantsReport {
            if deferReport {
                deferredReport = DeferredReport(pending: pending, outcome: outcome, event: nil)
                return
            }
            loop.execute { pending.succeed(outcome) }
        }
        if !request.wantsReport { pending.succeed(outcome) }
    }

    func logOutput(_ line: String, fromExtension: Bool = false) {
        guard events.wants(.output) else { return }
        events.emit(
            InvocationEvent(
                requestID: "", detail: .output(.init(environment: stream, line: line, fromExtension: fromExtension))))
    }

    // MARK: helpers

    static func errorDocument(type: String, message: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeStaticString(#"{"errorType":"#)
        buffer.writeJSONString(type)
        buffer.writeStaticString(#","errorMessage":"#)
        buffer.writeJSONString(message)
        buffer.writeStaticString("}")
        return buffer
    }

    /// `errorType` of a posted error document, when it is a JSON object with a string `errorType`.
    static func errorType(in body: ByteBuffer) -> String? {
        guard body.readableBytes < 1 << 20, case .object(let object)? = try? JSONParser.parse(body),
            case .string(let type)? = object["errorType"]
        else { return nil }
        return type
    }
}

@available(*, unavailable)
extension ExecutionEnvironment: Sendable {}

extension ExecutionEnvironment: RuntimeAPIEnvironment {}
