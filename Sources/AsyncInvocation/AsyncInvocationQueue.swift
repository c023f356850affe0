import Foundation
public import InvocationModel
public import LambdaModel
import NIOConcurrencyHelpers
import NIOCore
public import NIOPosix
public import ServiceLifecycle

/// Runs asynchronous invocations (`InvocationType: Event`) in the background: accepts events into the durable
/// ``AsyncEventStore``, runs each when it is due through the same invoke path as synchronous calls (so under the
/// function's concurrency: a throttle goes back to the queue, it is not lost), retries it by ``RetryPolicy`` and
/// the function's event-invoke configuration, and hands the final record to its destination or the dead-letter
/// target.
///
/// A `Service` of the composition root: it starts after the environments and stops before them, and on graceful
/// shutdown it dispatches nothing new and waits for the attempts already running. An event that was running when
/// the server died is still in the store and runs again after the restart (at least once, as on AWS).
public final class AsyncInvocationQueue: Service, Sendable {
    public typealias Invoke = @Sendable (InvokeRequest) async throws -> InvocationOutcome
    /// Whether a function (and qualifier, when given) exists now, for Lambda destinations.
    public typealias FunctionExists = @Sendable (_ name: String, _ qualifier: String?) -> Bool
    /// Whether a function's reserved concurrency is 0 now (PutFunctionConcurrency with 0: every invoke throttles).
    public typealias ZeroReservedConcurrency = @Sendable (_ name: String) -> Bool

    /// How the queue runs.
    public struct Settings: Sendable {
        public var policy: RetryPolicy
        /// Attempts running at once, across functions.
        public var maximumInFlight: Int
        /// The longest the runner sleeps without looking at the store.
        public var maximumPause: Double

        public init(policy: RetryPolicy = RetryPolicy(), maximumInFlight: Int = 32, maximumPause: Double = 1) {
            self.policy = policy
            self.maximumInFlight = maximumInFlight
            self.maximumPause = maximumPause
        }
    }

    public let store: AsyncEventStore
    public let outbox: Outbox
    public let settings: Settings
    let threadPool: NIOThreadPool
    let invoke: Invoke
    let functionExists: FunctionExists
    let zeroReservedConcurrency: ZeroReservedConcurrency
    let events: InvocationEventBus
    let account: AccountContext
    private let state = NIOLockedValueBox(State())

    private struct State {
        var inFlight: Set<String> = []
        var sleeper: CheckedContinuation<Void, Never>?
        var woken = false
        var stopped = false
    }

    public init(
        store: AsyncEventStore, outbox: Outbox, settings: Settings = Settings(), threadPool: NIOThreadPool,
        events: InvocationEventBus, account: AccountContext, invoke: @escaping Invoke,
        functionExists: @escaping FunctionExists,
        zeroReservedConcurrency: @escaping ZeroReservedConcurrency = { _ in false }
    ) {
        self.zeroReservedConcurrency = zeroReservedConcurrency
        self.store = store
        self.outbox = outbox
        self.settings = settings
        self.threadPool = threadPool
        self.events = events
        self.account = account
        self.invoke = invoke
        self.functionExists = functionExists
    }

    /// Runs `body` on the blocking thread pool.
    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await threadPool.runIfActive(body)
    }

    /// Accepts an event: it is on disk when this returns (the caller then answers 202).
    public func enqueue(
        function: String, qualifier: String?, payload: [UInt8], traceHeader: String?, requestID: String
    ) async throws {
        let now = Date().timeIntervalSince1970
        let event = AsyncEventStore.Event(
            id: requestID, function: function, qualifier: qualifier, payload: payload, traceHeader: traceHeader,
            progress: RetryPolicy.Progress(enqueuedAt: now), nextAttemptAt: now)
        let store = self.store
        try await blocking { try store.enqueue(event) }
        emit(requestID, function: function, qualifier: qualifier, .received)
        wake()
    }

    // MARK: the runner

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            await withGracefulShutdownHandler {
                while !state.withLockedValue({ $0.stopped }) && !Task.isCancelled {
                    let running = state.withLockedValue { $0.inFlight }
                    let now = Date().timeIntervalSince1970
                    let free = settings.maximumInFlight - running.count
                    let store = self.store
                    let due = (try? await blocking { try store.due(now: now, excluding: running, limit: free) }) ?? []
                    for event in due {
                        state.withLockedValue { _ = $0.inFlight.insert(event.id) }
                        group.addTask {
                            await self.process(event)
                            self.state.withLockedValue { _ = $0.inFlight.remove(event.id) }
                            self.wake()
                        }
                    }
                    let excluded = state.withLockedValue { $0.inFlight }
                    var pause = settings.maximumPause
                    if excluded.count < settings.maximumInFlight,
                        let next = try? await blocking({ try store.nextDue(excluding: excluded) })
                    {
                        pause = min(pause, max(next - Date().timeIntervalSince1970, 0))
                    }
                    if pause > 0 { await self.pause(seconds: pause) }
                }
            } onGracefulShutdown: {
                self.state.withLockedValue { $0.stopped = true }
                self.wake()
            }
            await group.waitForAll()
        }
    }

    /// Sleeps until `seconds` have passed or ``wake()`` is called (an event was accepted, an attempt ended).
    private func pause(seconds: Double) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLockedValue { state -> Bool in
                if state.woken || state.stopped {
                    state.woken = false
                    return true
                }
                state.sleeper = continuation
                return false
            }
            if now {
                continuation.resume()
                return
            }
            Task {
                try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
                self.wake(timer: true)
            }
        }
    }

    /// Ends the runner's pause.
    func wake(timer: Bool = false) {
        let sleeper = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            if let sleeper = state.sleeper {
                state.sleeper = nil
                state.woken = false
                return sleeper
            }
            if !timer { state.woken = true }
            return nil
        }
        sleeper?.resume()
    }

    // MARK: one attempt

    func process(_ event: AsyncEventStore.Event) async {
        let store = self.store
        let policy = settings.policy
        let qualifierKey = event.qualifier ?? "$LATEST"
        let config =
            ((try? await blocking { try store.config(function: event.function, qualifier: qualifierKey) }) ?? nil)?
            .config ?? EventInvokeConfig()
        let start = Date().timeIntervalSince1970
        if policy.isExpired(event.progress, config: config, now: start) {
            await finish(event, progress: event.progress, condition: .eventAgeExceeded, response: nil, config: config)
            return
        }
        if zeroReservedConcurrency(event.function) {
            // AWS does not retry these: a function that may never run goes to its on-failure destination (and
            // dead-letter target) at once, with condition ZeroReservedConcurrency and no invoke counted.
            await finish(
                event, progress: event.progress, condition: .zeroReservedConcurrency, response: nil, config: config)
            return
        }
        emit(
            event.id, function: event.function, qualifier: event.qualifier,
            .attempted(ageMs: (start - event.progress.enqueuedAt) * 1000))
        var payload = ByteBuffer()
        payload.writeBytes(event.payload.isEmpty ? Array("{}".utf8) : event.payload)
        let request = InvokeRequest(
            functionName: event.function, qualifier: event.qualifier, payload: payload,
            traceHeader: event.traceHeader, requestID: event.id)
        let attempt: RetryPolicy.Attempt
        var response: DestinationRecord.Response?
        do {
            let outcome = try await invoke(request)
            attempt = outcome.functionError == nil ? .success : .functionError
            response = DestinationRecord.Response(
                executedVersion: outcome.executedVersion, functionError: outcome.functionError,
                payload: Array(outcome.payload.readableBytesView))
        } catch let error as InvocationError where error.kind == .resourceNotFound || error.kind == .requestTooLarge {
            let reason = error.kind == .resourceNotFound ? "ResourceNotFound" : "RequestTooLarge"
            emit(event.id, function: event.function, qualifier: event.qualifier, .dropped(reason: reason))
            try? await blocking { try store.remove(event.id) }
            return
        } catch {
            attempt = .throttled
        }
        let (progress, decision) = policy.next(
            after: attempt, progress: event.progress, config: config, now: Date().timeIntervalSince1970)
        switch decision {
        case .retry(let at):
            try? await blocking { try store.reschedule(event.id, progress: progress, at: at) }
        case .finish(let condition):
            await finish(event, progress: progress, condition: condition, response: response, config: config)
        }
    }

    /// The event leaves the queue: its record goes to the destination for `condition`, a failed one to the
    /// dead-letter target too.
    private func finish(
        _ event: AsyncEventStore.Event, progress: RetryPolicy.Progress, condition: RetryPolicy.Condition,
        response: DestinationRecord.Response?, config: EventInvokeConfig
    ) async {
        let store = self.store
        let record = DestinationRecord(
            requestID: event.id,
            functionArn: account.functionARN(event.function, qualifier: event.qualifier ?? "$LATEST"),
            condition: condition, approximateInvokeCount: progress.invokeCount, requestPayload: event.payload,
            response: response, timestamp: Date())
        if condition == .success {
            if let destination = config.onSuccess { await deliver(record, to: destination, event: event) }
        } else {
            emit(event.id, function: event.function, qualifier: event.qualifier, .dropped(reason: condition.rawValue))
            if let destination = config.onFailure { await deliver(record, to: destination, event: event) }
            if let target = (try? await blocking({ try store.deadLetterTarget(function: event.function) })) ?? nil {
                await deadLetter(event, response: response, target: target, condition: condition)
            }
        }
        try? await blocking { try store.remove(event.id) }
    }

    /// Sends a record to a destination: another function (queued as an event of its own, as AWS invokes
    /// destination functions asynchronously) or an outbox file.
    private func deliver(_ record: DestinationRecord, to destination: String, event: AsyncEventStore.Event) async {
        let failed = {
            self.emit(
                event.id, function: event.function, qualifier: event.qualifier, .destinationFailed(target: destination))
        }
        switch DestinationTarget.parse(destination) {
        case .function(let name, let qualifier):
            guard functionExists(name, qualifier) else { return failed() }
            var generator = SystemRandomNumberGenerator()
            do {
                try await enqueue(
                    function: name, qualifier: qualifier, payload: Array(record.json.utf8), traceHeader: nil,
                    requestID: RequestID.make(using: &generator))
            } catch {
                failed()
            }
        case .outbox(let service, let name):
            let outbox = self.outbox
            let body = record.json
            let messageID = Self.messageID()
            do {
                try await blocking {
                    try outbox.append(
                        service: service, name: name, targetArn: destination, body: body, messageID: messageID)
                }
            } catch {
                failed()
            }
        case nil:
            failed()
        }
    }

    /// The dead-letter message of a failed event: its body is the event itself, with AWS's attributes.
    private func deadLetter(
        _ event: AsyncEventStore.Event, response: DestinationRecord.Response?, target: String,
        condition: RetryPolicy.Condition
    ) async {
        let failed = {
            self.emit(event.id, function: event.function, qualifier: event.qualifier, .deadLetterFailed(target: target))
        }
        guard case .outbox(let service, let name) = DestinationTarget.parse(target),
            service == "sqs" || service == "sns"
        else { return failed() }
        // Never attempted for want of concurrency: the throttle's status.
        let status = condition == .zeroReservedConcurrency ? 429 : response?.statusCode ?? 200
        var attributes = [("RequestID", event.id), ("ErrorCode", String(status))]
        if let payload = response?.payload,
            let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any],
            let message = object["errorMessage"] as? String
        {
            attributes.append(("ErrorMessage", message))
        }
        let outbox = self.outbox
        let body = String(decoding: event.payload, as: UTF8.self)
        let messageID = Self.messageID()
        let finalAttributes = attributes
        do {
            try await blocking {
                try outbox.append(
                    service: service, name: name, targetArn: target, body: body, attributes: finalAttributes,
                    messageID: messageID)
            }
        } catch {
            failed()
        }
    }

    static func messageID() -> String {
        var generator = SystemRandomNumberGenerator()
        return RequestID.make(using: &generator)
    }

    private func emit(
        _ requestID: String, function: String, qualifier: String?, _ stage: InvocationEvent.Async.Stage
    ) {
        guard events.wants(.async) else { return }
        events.emit(
            InvocationEvent(
                requestID: requestID, detail: .async(.init(function: function, qualifier: qualifier, stage: stage))))
    }
}
