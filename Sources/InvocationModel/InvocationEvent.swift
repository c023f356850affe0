public import NIOCore

/// One thing that happened to an invocation or to the execution environment running it, with a monotonic
/// timestamp: the single source for logs, metrics, traces and benchmarks.
///
/// Events of one environment are emitted in the order they happened, from the environment's event loop; events of
/// one front-end request likewise from its connection's loop. `requestID` ties the events of one invocation
/// together (empty for events of an environment that concern no invocation).
public struct InvocationEvent: Sendable {
    /// Monotonic time of the event (`NIODeadline.now()` when it happened).
    public var at: NIODeadline
    public var requestID: String
    public var detail: Detail

    public init(at: NIODeadline = .now(), requestID: String, detail: Detail) {
        self.at = at
        self.requestID = requestID
        self.detail = detail
    }

    /// The large payloads are `indirect` (boxed): an event is copied into the queue of every subscriber that
    /// wants it and out again, and with them inline every event, however small, would be as large as the largest
    /// (`ResponseWritten` with its `FrontEndRequest`, some 400 bytes) and copy all its fields; boxed, a copy is a
    /// retain. Emitting a boxed event costs one allocation.
    public enum Detail: Sendable {
        case received(Received)
        indirect case resolved(Resolved)
        indirect case placed(Placed)
        indirect case initStarted(InitStarted)
        indirect case initFinished(InitFinished)
        case invokeStarted(InvokeStarted)
        indirect case invokeFinished(InvokeFinished)
        indirect case responseWritten(ResponseWritten)
        case environmentStopped(EnvironmentStopped)
        case output(Output)
        case runtimeNext(RuntimeNext)
        case async(Async)
        case freeze(Freeze)
    }

    /// Which concurrency an invoke ran on (CloudWatch counts provisioned invocations and spill-over apart).
    public enum Capacity: Sendable, Hashable {
        /// An on-demand environment of a version without provisioned concurrency.
        case onDemand
        /// A provisioned-concurrency environment (`ProvisionedConcurrencyInvocations`).
        case provisioned
        /// An on-demand environment of a version with provisioned concurrency whose provisioned environments were
        /// all busy (`ProvisionedConcurrencySpilloverInvocations`).
        case spillover
    }

    /// How an environment was initialised: `AWS_LAMBDA_INITIALIZATION_TYPE` and the log records'
    /// `initializationType`.
    public enum InitializationType: String, Sendable, Hashable {
        case onDemand = "on-demand"
        case provisionedConcurrency = "provisioned-concurrency"
    }

    public var kind: Kinds {
        switch detail {
        case .received: return .received
        case .resolved: return .resolved
        case .placed(let placed): return Kinds.placement(placed.placement)
        case .initStarted: return .initStarted
        case .initFinished: return .initFinished
        case .invokeStarted: return .invokeStarted
        case .invokeFinished: return .invokeFinished
        case .responseWritten: return .responseWritten
        case .environmentStopped: return .environmentStopped
        case .output: return .output
        case .runtimeNext: return .runtimeNext
        case .async: return .async
        case .freeze: return .freezes
        }
    }

    /// Kinds of events, for subscriptions: a subscriber is handed only the kinds it asks for, and an emitter
    /// builds no event that nobody asked for.
    public struct Kinds: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        public static let received = Kinds(rawValue: 1 << 0)
        public static let resolved = Kinds(rawValue: 1 << 1)
        /// Warm, queued and cold-start placements (throttles are ``throttled``).
        public static let placed = Kinds(rawValue: 1 << 2)
        public static let initStarted = Kinds(rawValue: 1 << 3)
        public static let initFinished = Kinds(rawValue: 1 << 4)
        public static let invokeStarted = Kinds(rawValue: 1 << 5)
        public static let invokeFinished = Kinds(rawValue: 1 << 6)
        public static let responseWritten = Kinds(rawValue: 1 << 7)
        public static let environmentStopped = Kinds(rawValue: 1 << 8)
        public static let output = Kinds(rawValue: 1 << 9)
        public static let runtimeNext = Kinds(rawValue: 1 << 10)

        /// A `placed` event whose placement is `throttled`: its own kind, so that a subscriber that only counts
        /// throttles (metrics) is not sent the warm, queued and cold-start placement of every request.
        public static let throttled = Kinds(rawValue: 1 << 11)
        /// Every placement.
        public static let placements: Kinds = [.placed, .throttled]

        /// The asynchronous-invocation queue's events (``Async``).
        public static let async = Kinds(rawValue: 1 << 12)

        /// An idle environment was frozen, or thawed without an invoke (``Freeze``).
        public static let freezes = Kinds(rawValue: 1 << 13)

        public static let all = Kinds(rawValue: (1 << 14) - 1)
        /// Not an event kind but a detail: `responseWritten` events carry the request as the front end saw it
        /// (``ResponseWritten/request``, what an access log needs). Building it costs the front end a copy of the
        /// request's facts for every request, so only subscribers that use it ask for it.
        public static let requestDetails = Kinds(rawValue: 1 << 31)

        /// The kind of a `placed` event with `placement`: ``throttled`` or ``placed``.
        @inline(__always)
        public static func placement(_ placement: Placed.Placement) -> Kinds {
            if case .throttled = placement { return .throttled }
            return .placed
        }
        /// What the log writer needs: the environment's life and its output.
        public static let logs: Kinds = [
            .initStarted, .initFinished, .invokeStarted, .invokeFinished, .environmentStopped, .output,
        ]
    }

    // MARK: details

    /// A listener took a request and its rules chose a forward to a target group (front end only).
    public struct Received: Sendable {
        /// `HTTP:8080` / `HTTPS:8443`.
        public var listener: String
        /// The matched rule's priority, or `default`.
        public var rule: String
        /// The target group the forward chose, when there is one.
        public var targetGroup: String?

        public init(listener: String, rule: String, targetGroup: String?) {
            self.listener = listener
            self.rule = rule
            self.targetGroup = targetGroup
        }
    }

    /// The qualifier was resolved to a version.
    public struct Resolved: Sendable {
        public var function: String
        /// What the caller asked for (nil: unqualified, i.e. `$LATEST`).
        public var qualifier: String?
        /// The alias, when the qualifier was one.
        public var alias: String?
        public var executedVersion: String
        /// The invoke's trace when the platform records it (sampled); nil otherwise.
        public var trace: TraceContext?

        public init(
            function: String, qualifier: String?, alias: String?, executedVersion: String, trace: TraceContext? = nil
        ) {
            self.function = function
            self.qualifier = qualifier
            self.alias = alias
            self.executedVersion = executedVersion
            self.trace = trace
        }
    }

    /// Where the pool put the invoke.
    public struct Placed: Sendable {
        public enum Placement: Sendable, Hashable {
            /// On an idle environment whose runtime was waiting in `/next`.
            case warm
            /// On an environment that had just posted its previous result; it runs at the runtime's next `/next`.
            case queued
            /// On a new environment (a cold start).
            case coldStart
            /// Refused: `reason` says which limit (e.g. `ReservedFunctionConcurrentInvocationLimitExceeded`).
            case throttled(reason: String)
        }
        public var function: String
        public var version: String
        public var placement: Placement
        /// The environment it went to (nil when throttled).
        public var environment: LogStreamName?
        /// Provisioned, spill-over or plain on-demand (throttles: on-demand).
        public var capacity: Capacity
        /// The qualifier as invoked (``InvocationRequest/qualifier``; nil: unqualified).
        public var qualifier: String?

        public init(
            function: String, version: String, placement: Placement, environment: LogStreamName?,
            capacity: Capacity = .onDemand, qualifier: String? = nil
        ) {
            self.qualifier = qualifier
            self.function = function
            self.version = version
            self.placement = placement
            self.environment = environment
            self.capacity = capacity
        }
    }

    /// The runtime process of a new environment was started: INIT begins.
    public struct InitStarted: Sendable {
        public var environment: LogStreamName
        public var version: String
        /// `python:3.11.v1`, as the INIT_START line prints it.
        public var runtimeVersion: String
        public var pid: Int32?
        /// When the platform began to create the environment (before the process was spawned).
        public var createdAt: NIODeadline
        /// On demand, or ahead of traffic for provisioned concurrency.
        public var initializationType: InitializationType
        /// This INIT re-runs a failed or overrunning one inside the first invoke (AWS's suppressed init): its
        /// report says `Phase: invoke`.
        public var suppressed: Bool

        public init(
            environment: LogStreamName, version: String, runtimeVersion: String, pid: Int32?, createdAt: NIODeadline,
            initializationType: InitializationType = .onDemand, suppressed: Bool = false
        ) {
            self.environment = environment
            self.version = version
            self.runtimeVersion = runtimeVersion
            self.pid = pid
            self.createdAt = createdAt
            self.initializationType = initializationType
            self.suppressed = suppressed
        }
    }

    /// INIT ended: the runtime's first `/next` (ready), or a failure.
    public struct InitFinished: Sendable {
        public enum Result: Sendable {
            case ready
            /// INIT overran its limit and went on under the function timeout (no Init Duration is reported).
            case suppressed
            /// `/init/error`, a crash or a runtime that could not be started.
            case failed(errorType: String, message: String?)
            /// INIT did not end within its limit (10 s on demand): the runtime is stopped, and INIT runs again
            /// inside the first invoke.
            case timedOut
        }
        public var environment: LogStreamName
        public var durationMs: Double
        public var result: Result
        /// `init` for INIT ahead of the invoke, `invoke` for a re-run inside the first invoke (suppressed init):
        /// the `Phase:` of the `INIT_REPORT` line.
        public var phase: String
        /// When the failed INIT will run again inside the first invoke (the caller does not see this failure).
        public var willRerun: Bool

        public init(
            environment: LogStreamName, durationMs: Double, result: Result, phase: String = "init",
            willRerun: Bool = false
        ) {
            self.environment = environment
            self.durationMs = durationMs
            self.result = result
            self.phase = phase
            self.willRerun = willRerun
        }
    }

    /// The event was handed to the runtime (the answer to its `/next`).
    public struct InvokeStarted: Sendable {
        public var environment: LogStreamName
        public var version: String
        /// When the invoke entered the platform, for the queueing phase.
        public var receivedAt: NIODeadline
        /// Provisioned, spill-over or plain on-demand.
        public var capacity: Capacity
        /// The caller wants the REPORT line and the log tail (`LogType: Tail`), as ``InvokeFinished`` says again.
        public var reportRequested: Bool
        /// The qualifier as invoked (``InvocationRequest/qualifier``; nil: unqualified).
        public var qualifier: String?

        public init(
            environment: LogStreamName, version: String, receivedAt: NIODeadline, capacity: Capacity = .onDemand,
            reportRequested: Bool = false, qualifier: String? = nil
        ) {
            self.qualifier = qualifier
            self.environment = environment
            self.version = version
            self.receivedAt = receivedAt
            self.capacity = capacity
            self.reportRequested = reportRequested
        }
    }

    /// The invoke ended: the result was posted, or it failed (error, crash, timeout, init failure).
    public struct InvokeFinished: Sendable {
        public var environment: LogStreamName
        public var version: String
        public var memorySizeMB: Int
        /// The environment's INIT, when this invoke was its first and INIT was reported.
        public var initDurationMs: Double?
        /// Delivery → result (the REPORT line's Duration).
        public var durationMs: Double
        public var billedDurationMs: Int
        /// Time the platform spent on this invoke outside INIT and the function: from entering the platform to
        /// delivery, less INIT.
        public var overheadMs: Double
        /// `timeout`, `error` or nil on success (the REPORT line's Status).
        public var status: String?
        public var errorType: String?
        /// The platform's own message for failures it produced (crash, timeout, start failure); nil otherwise.
        public var errorMessage: String?
        /// The function timeout in seconds (for the `Task timed out after N.NN seconds` line).
        public var timeoutSeconds: Int
        /// The runtime's pid, for `Max Memory Used` when the environment has no control group; nil when no
        /// process ran.
        public var pid: Int32?
        /// The environment's control group counter of peak memory in bytes (`memory.peak`, v1
        /// `memory.max_usage_in_bytes`): `Max Memory Used` of the whole process tree; nil without a group.
        public var memoryPeakFile: String?
        /// The group's peak in MB, when it was already read (at the runtime's exit, before the group is removed).
        public var memoryPeakMB: Int?
        public var receivedAt: NIODeadline
        public var deliveredAt: NIODeadline?
        /// The caller will ask the log writer for this invoke's REPORT line (``InvocationRequest/wantsReport``).
        public var reportRequested: Bool
        /// `Lambda-Runtime-Function-XRay-Error-Cause` posted with `/error` (JSON), for the trace's `cause`.
        public var xrayErrorCause: String?
        /// Provisioned, spill-over or plain on-demand.
        public var capacity: Capacity = .onDemand
        /// The qualifier as invoked (``InvocationRequest/qualifier``; nil: unqualified).
        public var qualifier: String?

        public init(
            environment: LogStreamName, version: String, memorySizeMB: Int, initDurationMs: Double?,
            durationMs: Double, billedDurationMs: Int, overheadMs: Double, status: String?, errorType: String?,
            errorMessage: String?, timeoutSeconds: Int, pid: Int32?, receivedAt: NIODeadline,
            deliveredAt: NIODeadline?, reportRequested: Bool = false, xrayErrorCause: String? = nil,
            memoryPeakFile: String? = nil, memoryPeakMB: Int? = nil, qualifier: String? = nil
        ) {
            self.qualifier = qualifier
            self.memoryPeakFile = memoryPeakFile
            self.memoryPeakMB = memoryPeakMB
            self.reportRequested = reportRequested
            self.xrayErrorCause = xrayErrorCause
            self.environment = environment
            self.version = version
            self.memorySizeMB = memorySizeMB
            self.initDurationMs = initDurationMs
            self.durationMs = durationMs
            self.billedDurationMs = billedDurationMs
            self.overheadMs = overheadMs
            self.status = status
            self.errorType = errorType
            self.errorMessage = errorMessage
            self.timeoutSeconds = timeoutSeconds
            self.pid = pid
            self.receivedAt = receivedAt
            self.deliveredAt = deliveredAt
        }
    }

    /// The front end wrote its answer to the client.
    public struct ResponseWritten: Sendable {
        public var status: Int
        /// Body bytes written.
        public var bytes: Int
        /// The ALB's `error_reason` (alb-lambda.md §3): `LambdaUnhandled`, `LambdaThrottling`, …; nil on success.
        public var albErrorReason: String?
        /// What an access-log line needs beyond the above (``FrontEndRequest``); the front end fills it when a
        /// subscriber asked for ``Kinds/requestDetails``, and leaves it nil otherwise.
        public var request: FrontEndRequest? {
            get { requestBox?.value }
            set { requestBox = newValue.map(RequestBox.init) }
        }
        /// ``request`` boxed: some 290 bytes that every `responseWritten` would otherwise carry (and copy into
        /// each queue and out again) even when nil, as it is unless access logs are on.
        private var requestBox: RequestBox?

        private final class RequestBox: Sendable {
            let value: FrontEndRequest
            init(_ value: FrontEndRequest) { self.value = value }
        }
        /// `HTTP:8080` / `HTTPS:8443`, as in ``Received/listener``: answers given before routing (400, 405, 413)
        /// have no `received` event, and their metrics still need the listener.
        public var listener: String
        /// What routing decided, as the `received` event said it (nil: answered before routing), so that a
        /// subscriber that counts requests needs this one event of the front end, not two.
        public var routing: Routing?
        /// The `X-Amzn-Trace-Id` the ALB forwarded to the function (`Root=…` or `Self=…;Root=…`, as
        /// ``FrontEndRequest/traceID``); nil when nothing was forwarded. Carried without ``Kinds/requestDetails``
        /// (the front end has the string anyway), so that a client that sent its own trace root (`albatross bench
        /// --via`) can find its request's events without the access-log facts being built for every request.
        public var traceID: String?
        /// Monotonic time the request head arrived (``FrontEndRequest/receivedAt``); nil when the front end took
        /// none (a request whose events nobody wanted).
        public var receivedAt: NIODeadline?
        /// An invoke was attempted: the invoker resolved the target group's function to a version (the answer is the
        /// function's, or a failure after that: throttling, a function error, a timeout, a platform failure). False
        /// for answers before or without an invoke (an unknown function, a payload over the limit, fixed responses).
        /// Declared last: with it after the optionals the struct stays within 128 bytes.
        public var invoked: Bool

        /// The rule that matched and where it sent the request.
        public struct Routing: Sendable {
            /// The matching rule's priority, or `default`.
            public var rule: String
            /// The target group of a forward; nil for a fixed response or a redirect.
            public var targetGroup: String?
            /// When the request was routed (the `received` event's time).
            public var at: NIODeadline

            public init(rule: String, targetGroup: String?, at: NIODeadline) {
                self.rule = rule
                self.targetGroup = targetGroup
                self.at = at
            }
        }

        public init(
            status: Int, bytes: Int, albErrorReason: String?, listener: String = "", request: FrontEndRequest? = nil,
            routing: Routing? = nil, invoked: Bool = false, traceID: String? = nil, receivedAt: NIODeadline? = nil
        ) {
            self.invoked = invoked
            self.traceID = traceID
            self.receivedAt = receivedAt
            self.status = status
            self.bytes = bytes
            self.albErrorReason = albErrorReason
            self.listener = listener
            self.requestBox = request.map(RequestBox.init)
            self.routing = routing
        }
    }

    /// An environment ended and its resources are released.
    public struct EnvironmentStopped: Sendable {
        public enum Reason: Sendable, Hashable {
            /// Idle for longer than the idle timeout.
            case idle
            /// Its version was replaced or removed; it finished its invoke first.
            case retired
            /// The platform is shutting down.
            case shutdown
            /// The invoke timed out; the environment was reset.
            case timeout
            /// The runtime posted its result but did not ask for the next event before the timeout.
            case noNextAfterResponse
            /// INIT failed.
            case initFailed
            /// The runtime exited by itself (`exit status 2`, `signal: killed`).
            case exited(String)
            /// It reached the maximum environment lifetime (`environments.maximumLifetimeSeconds`).
            case lifetime
            /// A provisioned environment no longer needed (its provisioned concurrency was lowered or removed).
            case deprovisioned
        }
        public var environment: LogStreamName
        public var reason: Reason

        public init(environment: LogStreamName, reason: Reason) {
            self.environment = environment
            self.reason = reason
        }
    }

    /// The runtime asked for its next event (`/next`) after an invoke: the end of that invoke's `Overhead` in a
    /// trace. Emitted only when a subscriber wants it (traces do).
    public struct RuntimeNext: Sendable {
        public var environment: LogStreamName

        public init(environment: LogStreamName) {
            self.environment = environment
        }
    }

    /// The environment's processes were frozen (cgroup freezer or SIGSTOP: an idle environment, its runtime parked
    /// in `/next`), or thawed. The thaw an invoke placed on it starts with is not sent: its `invokeStarted`
    /// follows at once and says the environment runs; nor the thaw before it stops (`environmentStopped` follows).
    /// A thaw without either (an invoke placed on it that waits or is refused) is sent with `frozen` false.
    public struct Freeze: Sendable {
        public var environment: LogStreamName
        public var frozen: Bool

        public init(environment: LogStreamName, frozen: Bool) {
            self.environment = environment
            self.frozen = frozen
        }
    }

    /// A line the runtime wrote to stdout or stderr.
    public struct Output: Sendable {
        public var environment: LogStreamName
        public var line: String
        /// Written by an extension rather than the runtime (the Telemetry API's `extension` records).
        public var fromExtension: Bool

        public init(environment: LogStreamName, line: String, fromExtension: Bool = false) {
            self.environment = environment
            self.line = line
            self.fromExtension = fromExtension
        }
    }

    /// What the asynchronous-invocation queue did with an event (AWS's `AsyncEventsReceived`, `AsyncEventAge`,
    /// `AsyncEventsDropped`, `DeadLetterErrors`, `DestinationDeliveryFailures`); `requestID` is the event's.
    public struct Async: Sendable {
        public enum Stage: Sendable, Hashable {
            /// Accepted and stored (the 202 of `InvocationType: Event`).
            case received
            /// An attempt starts; `ageMs` is the time since the event was accepted.
            case attempted(ageMs: Double)
            /// Discarded without a successful run: `reason` is the record's condition (`RetriesExhausted`,
            /// `EventAgeExceeded`) or `ResourceNotFound` (the function went away).
            case dropped(reason: String)
            /// Writing the discarded event to the dead-letter target failed.
            case deadLetterFailed(target: String)
            /// Sending the record to a destination failed.
            case destinationFailed(target: String)
        }
        public var function: String
        /// As invoked (nil: unqualified).
        public var qualifier: String?
        public var stage: Stage

        public init(function: String, qualifier: String?, stage: Stage) {
            self.function = function
            self.qualifier = qualifier
            self.stage = stage
        }
    }
}
