import CAlbatrossSupport
import Foundation
import LambdaModel
import NIOCore
import NIOHTTP1
import NIOPosix
import Observability

/// An invoke travelling through an environment: the request and the caller's promise.
struct PendingInvocation: Sendable {
    var request: InvocationRequest
    var promise: EventLoopPromise<InvocationOutcome>
}

/// Refusal of an invoke by an environment that stopped being ready; the pool retries elsewhere.
struct EnvironmentNotReady: Error {}

/// Callbacks from an environment to its pool. Called on the environment's event loop.
struct EnvironmentPoolLink: Sendable {
    /// The runtime asked for the next event: the environment is free.
    var ready: @Sendable (Int) -> Void
    /// The environment is gone (process reaped, resources closed).
    var terminated: @Sendable (Int) -> Void
}

/// One execution environment: a runtime process, its private Runtime API listener and its log stream.
///
/// All state lives on `loop`; other threads reach it through ``EnvironmentHandle``. The lifecycle decisions are
/// made by ``EnvironmentStateMachine``; this class performs their effects.
final class ExecutionEnvironment {
    let id: Int
    let loop: any EventLoop
    let spec: EnvironmentSpec
    let stream: LogStreamName
    private let link: EnvironmentPoolLink
    private var machine: EnvironmentStateMachine<RuntimeAPIHandler, PendingInvocation>

    private var serverChannel: (any Channel)?
    private var pid: pid_t?
    private var launchStarted = NIODeadline.now()
    private var initDurationMs: Double?
    private var suppressedInit = false
    private var deliveredAt: NIODeadline?
    private var deadlineEpochMs: Int64 = 0
    private var timeoutTask: Scheduled<Void>?
    private var initTimeoutTask: Scheduled<Void>?
    private var initErrorReported = false
    private var cleanedUp = false
    private var stopping = false
    private var outputChannel: (any Channel)?

    init(id: Int, loop: any EventLoop, spec: EnvironmentSpec, link: EnvironmentPoolLink, pending: PendingInvocation?) {
        self.id = id
        self.loop = loop
        self.spec = spec
        self.link = link
        self.stream = spec.logSink.makeStream(functionName: spec.function.name, version: spec.version)
        self.machine = EnvironmentStateMachine(pending: pending)
    }

    private var timeoutMs: Double { Double(spec.function.timeout) * 1000 }

    // MARK: start

    /// Binds the Runtime API listener, then launches the runtime on the thread pool.
    func start() {
        loop.preconditionInEventLoop()
        launchStarted = .now()
        let bound = NIOLoopBound(self, eventLoop: loop)
        ServerBootstrap(group: loop)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 64)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(RuntimeAPIHandler(environment: bound.value))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    self.serverChannel = channel
                    if self.stopping {
                        self.cleanUp()
                        return
                    }
                    self.launch(runtimeAPIPort: channel.localAddress?.port ?? 0)
                case .failure(let error):
                    self.failStart(
                        errorType: "Sandbox.Failure", message: "cannot open the Runtime API listener: \(error)")
                }
            }
        let initBudget = spec.initTimeoutSeconds
        initTimeoutTask = loop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(initBudget * 1e9))) {
            self.initPhaseExpired()
        }
    }

    private func launch(runtimeAPIPort: Int) {
        let spec = self.spec
        let environment = RuntimeEnvironmentBuilder.variables(
            spec: spec, runtimeAPI: "127.0.0.1:\(runtimeAPIPort)", logStreamName: stream.streamName,
            logGroupName: stream.groupName)
        let bound = NIOLoopBound(self, eventLoop: loop)
        let loop = self.loop
        spec.threadPool.runIfActive(eventLoop: loop) { () throws -> LaunchedProcess in
            let command = try RuntimeEnvironmentBuilder.command(spec: spec)
            return try ProcessLauncher.launch(
                executable: command.executable, arguments: command.arguments, environment: environment,
                workingDirectory: spec.taskRoot)
        }.whenComplete { result in
            let environment = bound.value
            switch result {
            case .success(let process):
                environment.launched(process)
            case .failure(let error as RuntimeCommandError):
                environment.failStart(errorType: error.errorType, message: error.message)
            case .failure(let error):
                environment.failStart(errorType: "Runtime.InvalidEntrypoint", message: "\(error)")
            }
        }
    }

    private func launched(_ process: LaunchedProcess) {
        pid = process.pid
        let bound = NIOLoopBound(self, eventLoop: loop)
        let loop = self.loop
        ProcessLauncher.reap(process.pid) { exit in
            loop.execute { bound.value.processExited(exit) }
        }
        NIOPipeBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(OutputLineHandler(environment: bound.value))
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
        if stopping { ProcessLauncher.killGroup(process.pid) }
        spec.logSink.write(
            "INIT_START Runtime Version: \(RuntimeEnvironmentBuilder.runtimeVersion(spec.function.runtime))",
            to: stream)
    }

    /// The runtime could not be started at all: the pending invoke fails and the environment is dropped.
    private func failStart(errorType: String, message: String) {
        guard !machine.isTerminated else {
            cleanUp()
            return
        }
        if case .fail(let pending, _) = machine.terminate() {
            let body = Self.errorDocument(type: errorType, message: message)
            spec.logSink.write(
                "INIT_REPORT Init Duration: \(formatMilliseconds(elapsedMs(since: launchStarted))) ms\tPhase: init\tStatus: error\tError Type: \(errorType)",
                to: stream)
            spec.logSink.write(message, to: stream)
            finish(
                pending, payload: body, contentType: "application/json", errorType: errorType, status: "error",
                durationMs: 0)
        }
        cleanUp()
    }

    // MARK: Runtime API events

    func nextRequested(by waiter: RuntimeAPIHandler) {
        let wasAwaitingNext = machine.isAwaitingNext
        switch machine.nextRequested(by: waiter) {
        case .deliver(let pending, let initDone):
            if initDone { endInit() }
            if wasAwaitingNext { cancelTimeout() }
            deliver(pending, to: waiter)
        case .redeliver(let pending):
            waiter.deliver(pending.request, deadlineEpochMs: deadlineEpochMs)
        case .park(let becameReady, let initDone):
            if initDone { endInit() }
            if wasAwaitingNext { cancelTimeout() }
            if becameReady { link.ready(id) }
        case .reject:
            waiter.rejectNext()
        }
    }

    /// The first `/next`: INIT is over.
    private func endInit() {
        initTimeoutTask?.cancel()
        initTimeoutTask = nil
        if !suppressedInit { initDurationMs = elapsedMs(since: launchStarted) }
    }

    private func cancelTimeout() {
        timeoutTask?.cancel()
        timeoutTask = nil
    }

    /// The parked `/next` connection closed before an event came.
    func waiterGone(_ waiter: RuntimeAPIHandler) {
        // Nothing to deliver to any more; the next invoke handed over is refused and retried elsewhere. The
        // runtime normally reconnects at once, which makes it ready again.
        _ = machine.waiterGone(waiter)
    }

    /// The pool hands over an invoke.
    func invoke(_ pending: PendingInvocation) {
        switch machine.invoke(pending, requestID: pending.request.requestID) {
        case .deliver(let waiter):
            deliver(pending, to: waiter)
        case .queued:
            break
        case .refuse(let pending):
            pending.promise.fail(EnvironmentNotReady())
        }
    }

    private func deliver(_ pending: PendingInvocation, to waiter: RuntimeAPIHandler) {
        let request = pending.request
        machine.delivered(requestID: request.requestID)
        deliveredAt = .now()
        let remainingMs: Double
        if suppressedInit {
            // INIT overran its 10 s: the rest of it counts against the function timeout (runtime-api.md §2.2) of
            // this first invoke only; later invokes of the environment get the whole timeout.
            remainingMs = max(0, timeoutMs - (elapsedMs(since: launchStarted) - spec.initTimeoutSeconds * 1000))
            suppressedInit = false
        } else {
            remainingMs = timeoutMs
        }
        deadlineEpochMs = WallClock.epochMilliseconds() + Int64(remainingMs)
        spec.logSink.write("START RequestId: \(request.requestID) Version: \(spec.version)", to: stream)
        waiter.deliver(request, deadlineEpochMs: deadlineEpochMs)
        let requestID = request.requestID
        timeoutTask = loop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(remainingMs * 1e6))) {
            self.timedOut(requestID: requestID)
        }
    }

    func post(
        _ kind: EnvironmentStateMachine<RuntimeAPIHandler, PendingInvocation>.PostKind, requestID: String,
        body: ByteBuffer, contentType: String?, errorType: String?
    ) -> RuntimeAPIHandler.PostResult {
        switch machine.posted(kind, requestID: requestID) {
        case .accept(let pending):
            // The timeout keeps running until the runtime asks for the next event (the invoke is not over before).
            let duration = deliveredAt.map(elapsedMs(since:)) ?? 0
            link.ready(id)
            switch kind {
            case .response:
                finish(
                    pending, payload: body, contentType: contentType, errorType: nil, status: nil, durationMs: duration)
            case .error:
                let type = errorType ?? Self.errorType(in: body) ?? "Runtime.Unknown"
                finish(
                    pending, payload: body, contentType: "application/json", errorType: type, status: "error",
                    durationMs: duration)
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
        guard case .accept(let pending) = machine.posted(.response, requestID: requestID) else { return }
        link.ready(id)
        let message = "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
        let body = Self.errorDocument(type: "Function.ResponseSizeTooLarge", message: message)
        finish(
            pending, payload: body, contentType: "application/json", errorType: "Function.ResponseSizeTooLarge",
            status: "error", durationMs: deliveredAt.map(elapsedMs(since:)) ?? 0)
    }

    func initErrorPosted(body: ByteBuffer, errorType: String?) -> Bool {
        let (accepted, pending) = machine.initErrorPosted()
        guard accepted else { return false }
        initTimeoutTask?.cancel()
        initTimeoutTask = nil
        initErrorReported = true
        let type = errorType ?? Self.errorType(in: body) ?? "Runtime.Unknown"
        let initMs = elapsedMs(since: launchStarted)
        spec.logSink.write(
            "INIT_REPORT Init Duration: \(formatMilliseconds(initMs)) ms\tPhase: init\tStatus: error\tError Type: \(type)",
            to: stream)
        if let pending {
            finish(
                pending, payload: body, contentType: "application/json", errorType: type, status: "error", durationMs: 0
            )
        }
        // The runtime is expected to exit after posting; make sure it does.
        if let pid {
            loop.assumeIsolated().scheduleTask(in: .milliseconds(500)) { ProcessLauncher.killGroup(pid) }
        } else {
            cleanUp()
        }
        return true
    }

    // MARK: failures

    private func initPhaseExpired() {
        initTimeoutTask = nil
        guard case .initializing(let pending) = machine.state, pending != nil else { return }
        // Suppressed init: INIT goes on, but now under the function timeout; no Init Duration is reported.
        suppressedInit = true
        let graceMs = timeoutMs
        initTimeoutTask = loop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(graceMs * 1e6))) {
            guard case .initializing = self.machine.state else { return }
            if case .fail(let pending, _) = self.machine.terminate() {
                self.failTimedOut(pending, durationMs: graceMs)
            }
        }
    }

    private func timedOut(requestID: String) {
        timeoutTask = nil
        if machine.isAwaitingNext {
            // The result went out, but the runtime never came back for the next event: reset the environment.
            // A queued invoke is refused on termination and runs elsewhere.
            spec.logSink.write(
                "RequestId: \(requestID) Error: runtime did not ask for the next event before the timeout; resetting the environment",
                to: stream)
            if let pid { ProcessLauncher.killGroup(pid) }
            return
        }
        guard let pending = machine.timedOut(requestID: requestID) else { return }
        failTimedOut(pending, durationMs: deliveredAt.map(elapsedMs(since:)) ?? timeoutMs)
    }

    private func failTimedOut(_ pending: PendingInvocation, durationMs: Double) {
        if let pid { ProcessLauncher.killGroup(pid) }
        let seconds = formatMilliseconds(Double(spec.function.timeout) * 1000 / 1000)
        let requestID = pending.request.requestID
        spec.logSink.write("\(WallClock.iso8601()) \(requestID) Task timed out after \(seconds) seconds", to: stream)
        let body = Self.errorDocument(
            type: "Sandbox.Timedout", message: "RequestId: \(requestID) Error: Task timed out after \(seconds) seconds")
        finish(
            pending, payload: body, contentType: "application/json", errorType: "Sandbox.Timedout", status: "timeout",
            durationMs: durationMs, capBilledAtTimeout: true)
        if pid == nil { cleanUp() }
    }

    func processExited(_ exit: ProcessExit) {
        pid = nil
        switch machine.terminate() {
        case .fail(let pending, _):
            let requestID = pending.request.requestID
            let message = "RequestId: \(requestID) Error: Runtime exited with error: \(exit.description)"
            spec.logSink.write(message, to: stream)
            spec.logSink.write("Runtime.ExitError", to: stream)
            let body = Self.errorDocument(type: "Runtime.ExitError", message: message)
            finish(
                pending, payload: body, contentType: "application/json", errorType: "Runtime.ExitError",
                status: "error", durationMs: deliveredAt.map(elapsedMs(since:)) ?? 0)
        case .refuse(let pending):
            pending.promise.fail(EnvironmentNotReady())
        case .releaseWaiter(let waiter):
            waiter.rejectNext()
        case .none:
            break
        }
        cleanUp()
    }

    /// Stops the environment: SIGKILL to its process group (AWS sends no SIGTERM without extensions).
    func shutdown() {
        stopping = true
        if let pid {
            ProcessLauncher.killGroup(pid)
        } else if serverChannel != nil, machine.isTerminated {
            cleanUp()
        }
    }

    private func cleanUp() {
        guard !cleanedUp else { return }
        cleanedUp = true
        timeoutTask?.cancel()
        initTimeoutTask?.cancel()
        serverChannel?.close(promise: nil)
        serverChannel = nil
        // Output still buffered in the pipe is read until EOF; the stream is closed after it.
        let sink = spec.logSink
        let stream = self.stream
        let link = self.link
        let id = self.id
        let finishClose: @Sendable () -> Void = {
            sink.close(stream)
            link.terminated(id)
        }
        if let outputChannel {
            outputChannel.closeFuture.whenComplete { _ in finishClose() }
            // A runtime's grandchildren may keep the pipe open; do not wait for them.
            loop.assumeIsolated().scheduleTask(in: .milliseconds(200)) { outputChannel.close(promise: nil) }
        } else {
            finishClose()
        }
    }

    // MARK: completing invokes

    private func finish(
        _ pending: PendingInvocation, payload: ByteBuffer, contentType: String?, errorType: String?, status: String?,
        durationMs: Double, capBilledAtTimeout: Bool = false
    ) {
        let request = pending.request
        let initMs = initDurationMs
        initDurationMs = nil
        deliveredAt = nil
        var billed = Int((durationMs + (initMs ?? 0)).rounded(.up))
        if capBilledAtTimeout { billed = min(billed, Int(timeoutMs + (initMs ?? 0))) }
        let outcome = InvocationOutcome(
            requestID: request.requestID, payload: payload, contentType: contentType,
            functionError: errorType == nil ? nil : "Unhandled", errorType: errorType, executedVersion: spec.version,
            durationMs: durationMs, initDurationMs: initMs, logStreamName: stream.streamName, reportLine: nil)
        let report = ReportFields(
            requestID: request.requestID, durationMs: durationMs, billedDurationMs: max(billed, 1),
            memorySizeMB: spec.function.memorySize, initDurationMs: initMs, status: status, pid: pid)
        let sink = spec.logSink
        let stream = self.stream
        // One loop tick later, so output the runtime wrote before posting (already in the pipe) is logged first.
        loop.execute {
            sink.write("END RequestId: \(request.requestID)", to: stream)
            if request.wantsReport {
                sink.writeReport(report, to: stream) { line in
                    var outcome = outcome
                    outcome.reportLine = line
                    pending.promise.succeed(outcome)
                }
            } else {
                sink.writeReport(report, to: stream)
            }
        }
        if !request.wantsReport { pending.promise.succeed(outcome) }
    }

    func logOutput(_ line: String) {
        spec.logSink.write(line, to: stream)
    }

    // MARK: helpers

    private func elapsedMs(since start: NIODeadline) -> Double {
        Double((NIODeadline.now() - start).nanoseconds) / 1e6
    }

    static func errorDocument(type: String, message: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeString(#"{"errorType":""#)
        JSONText.writeEscaped(type, into: &buffer)
        buffer.writeString(#"","errorMessage":""#)
        JSONText.writeEscaped(message, into: &buffer)
        buffer.writeString(#""}"#)
        return buffer
    }

    /// `errorType` of a posted error document, when it is a JSON object with a string `errorType`.
    static func errorType(in body: ByteBuffer) -> String? {
        guard body.readableBytes < 1 << 20,
            let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
        else { return nil }
        return object["errorType"] as? String
    }
}

@available(*, unavailable)
extension ExecutionEnvironment: Sendable {}

/// Minimal JSON string escaping for the documents the platform writes itself.
enum JSONText {
    static func writeEscaped(_ text: String, into buffer: inout ByteBuffer) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
            case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
            case UInt8(ascii: "\n"): buffer.writeStaticString("\\n")
            case UInt8(ascii: "\r"): buffer.writeStaticString("\\r")
            case UInt8(ascii: "\t"): buffer.writeStaticString("\\t")
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                buffer.writeStaticString("\\u00")
                buffer.writeInteger(hex[Int(byte >> 4)])
                buffer.writeInteger(hex[Int(byte & 0xf)])
            default: buffer.writeInteger(byte)
            }
        }
    }
}
