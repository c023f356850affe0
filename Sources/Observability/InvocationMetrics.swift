import Foundation
public import InvocationModel
import NIOConcurrencyHelpers
import NIOCore
public import Prometheus

/// Turns the invocation event stream into Prometheus metrics named after CloudWatch's `AWS/Lambda` and
/// `AWS/ApplicationELB` metrics, counted by the rules of `shared/reference/observability.md`.
///
/// One subscriber, one ``PrometheusCollectorRegistry`` of its own (no global `MetricsSystem` bootstrap), so that
/// servers and tests in one process never share series. Events arrive in batches on the subscription's thread;
/// ``exposition()`` renders the registry from any thread that may block (it reads `/proc`), never an event loop.
///
/// Counting rules (observability.md §1.3–§1.4 for Lambda, §2.2–§2.3 and §3.5 for the ALB):
/// - **Invocations**: every finished invoke, i.e. the code ran (success, function error, timeout, crash; an INIT
///   failure surfaced on the invoke counts too, §1.4 [INF]). A throttled or refused request is not an invocation.
/// - **Errors**: finished invokes with a REPORT `Status` (`error`, `timeout`): function errors, timeouts and
///   runtime crashes. Throttles are not errors.
/// - **Throttles**: the pool refused the invoke (`placed` with `throttled`), in neither of the two above.
/// - **Duration**: delivery → result of an invoke whose event reached the runtime (`invokeStarted` seen; the
///   REPORT Duration); init failures before delivery have none.
/// - **Init duration** and **cold starts**: the REPORT's `Init Duration` (first invoke of an on-demand
///   environment), §1.5: a cold start is a REPORT carrying it.
/// - **Concurrent executions**: environments processing an event (`invokeStarted` → `invokeFinished`).
/// - **Provisioned concurrency** (§1.3 `ProvisionedConcurrency*`): invokes that ran on a provisioned environment,
///   invokes of a provisioned version that spilled over to on-demand ones, and per version the provisioned
///   environments processing an event now, over those allocated (initialised ahead), as utilization.
/// - Labels (§1.2): `function`; `resource` = `function:qualifier` as invoked (alias or version, `$LATEST` when
///   asked for), empty for an unqualified invoke; `executed_version` = the version that ran.
/// - **RequestCount**: requests for which a target was chosen and an invoke attempted; not redirects, fixed
///   responses, rejections before routing, a 413, nor a 503 for a target group without a target (§2.2, §2.3).
/// - **ELB codes** (`code`): answers the load balancer produced itself (every `Lambda*` failure, 400/405/413/503,
///   redirects, fixed responses); **target codes** (`class` `2XX`…`5XX`): the function's own `statusCode`.
/// - **TargetResponseTime**: `received` → response written, for every request that reached the invoker.
/// - **LambdaUserError / LambdaInternalError**: by `error_reason`, §3.5 (internal: `LambdaConnectionError`,
///   `LambdaConnectionTimeout`, `LambdaServiceException`, `LambdaUnhandledException`; every other `Lambda*` code is
///   a user error).
public final class InvocationMetrics: InvocationEventSubscriber {
    public let registry: PrometheusCollectorRegistry
    private let state: NIOLockedValueBox<State>
    private let series: Series
    private let connectionSource = NIOLockedValueBox<(@Sendable () -> [ConnectionCounts])?>(nil)
    private let counterSources = NIOLockedValueBox<[@Sendable () -> [ScrapedCounter]]>([])
    private let scraped = NIOLockedValueBox<[String: (counter: Counter, value: Int)]>([:])
    /// Its subscription, once attached (``catchUp()``).
    private let subscription = NIOLockedValueBox<InvocationEventSubscription?>(nil)

    public var interests: InvocationEvent.Kinds {
        [
            // Not `received` (`responseWritten` carries the routing), nor `resolved` (the invoke's events carry
            // its qualifier), nor the warm placements: per request, only the events that count something.
            .throttled, .initStarted, .initFinished, .invokeStarted, .invokeFinished, .responseWritten,
            .environmentStopped, .async, .freezes,
        ]
    }

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        self.series = Series(registry: registry)
        self.state = NIOLockedValueBox(State())
    }

    /// Subscribes to `bus`; the returned subscription reports dropped events. Its thread takes the events in
    /// batches up to ``batchPause`` apart; ``exposition()`` and a flush of the bus deliver what is queued at once.
    @discardableResult
    public func attach(to bus: InvocationEventBus) -> InvocationEventSubscription {
        let made = bus.subscribe(self, name: "metrics", pause: Self.batchPause)
        subscription.withLockedValue { $0 = made }
        return made
    }

    /// Seconds between two batches of events. A scrape (``exposition()``, `/status`) first takes what is queued
    /// (``catchUpBlocking()``), so the pause delays nothing anyone reads: it only gathers events into larger batches, and
    /// each batch saves a wake of this thread (its locks, a context switch) and a wake-up call from an event loop.
    public static let batchPause = 1.0

    /// Delivers what is queued for the metrics before returning, so that what is read next counts every event
    /// emitted before the call. Blocks: not on an event loop (nor on the subscription's own thread).
    public func catchUpBlocking() {
        subscription.withLockedValue { $0 }?.flushBlocking()
    }

    /// ``catchUpBlocking()`` for async callers.
    public func catchUp() async {
        guard let subscription = subscription.withLockedValue({ $0 }) else { return }
        await subscription.flush()
    }

    public func receive(_ events: [InvocationEvent]) {
        state.withLockedValue { state in
            // Through the buffer: iterating the array would copy every event out of it first.
            events.withUnsafeBufferPointer { buffer in
                guard let first = buffer.baseAddress else { return }
                for index in buffer.indices { state.handle(first + index, series: series) }
            }
        }
    }

    /// The Prometheus text exposition (format 0.0.4), with the process gauges read now. Reads `/proc`: call it
    /// from a thread that may block.
    public func exposition() -> String {
        catchUpBlocking()
        let process = ProcessStatistics.read()
        if let resident = process.residentMemoryBytes { series.residentMemory.set(to: Double(resident)) }
        if let descriptors = process.openDescriptors { series.openDescriptors.set(to: Double(descriptors)) }
        let counts = connectionSource.withLockedValue { $0 }?() ?? []
        state.withLockedValue { _ in
            for count in counts { series.connections(count) }
        }
        let sources = counterSources.withLockedValue { $0 }
        let values = sources.flatMap { $0() }
        scraped.withLockedValue { scraped in
            for value in values {
                let key = value.name + "\u{0}" + value.labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
                let entry =
                    scraped[key]
                    ?? (
                        registry.makeCounter(
                            descriptor: MetricNameDescriptor(
                                namespace: nil, subsystem: nil, metricName: value.name, unitName: "",
                                helpText: value.help),
                            labels: value.labels), 0
                    )
                if value.value > entry.value { entry.counter.increment(by: Int64(value.value - entry.value)) }
                scraped[key] = (entry.counter, max(entry.value, value.value))
            }
        }
        return registry.emitToString()
    }

    /// A counter kept by another part (the trace exporter, the OTLP receiver), read at scrape time: its full
    /// name (`..._total`), help text, labels and its count since start.
    public struct ScrapedCounter: Sendable {
        public var name: String
        public var help: String
        public var labels: [(String, String)]
        public var value: Int

        public init(name: String, help: String, labels: [(String, String)] = [], value: Int) {
            self.name = name
            self.help = help
            self.labels = labels
            self.value = value
        }
    }

    /// Adds counters read at every scrape (exported as counters by their growth), so that a part with counts of
    /// its own needs no event and no dependency on this module.
    public func observeCounters(_ source: @escaping @Sendable () -> [ScrapedCounter]) {
        counterSources.withLockedValue { $0.append(source) }
    }

    /// One listener's connection counts since start, as the front end keeps them.
    public struct ConnectionCounts: Sendable {
        /// `HTTP:8080`.
        public var listener: String
        public var active: Int
        public var accepted: Int
        public var rejected: Int

        public init(listener: String, active: Int, accepted: Int, rejected: Int) {
            self.listener = listener
            self.active = active
            self.accepted = accepted
            self.rejected = rejected
        }
    }

    /// Where ``exposition()`` reads the listeners' connection counts (ALB `ActiveConnectionCount`,
    /// `NewConnectionCount`, `RejectedConnectionCount`): read at scrape time, so counting connections costs the
    /// front end nothing beyond its own counters.
    public func observeConnections(_ source: @escaping @Sendable () -> [ConnectionCounts]) {
        connectionSource.withLockedValue { $0 = source }
    }

    /// Reads the accounting state under the lock (for ``status(now:)``).
    func status<T>(_ body: (State, Series) -> T) -> T {
        state.withLockedValue { body($0, series) }
    }

    /// The `Content-Type` of ``exposition()``.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
}

// MARK: - series

/// Label sets of the Lambda metrics.
struct LambdaLabels: Hashable {
    var function: String
    var resource: String
    var executedVersion: String

    var pairs: [(String, String)] {
        [("function", function), ("resource", resource), ("executed_version", executedVersion)]
    }
}

/// Label sets of the ALB metrics that carry a target group.
struct ALBLabels: Hashable {
    var listener: String
    var targetGroup: String

    var pairs: [(String, String)] { [("listener", listener), ("target_group", targetGroup)] }
}

/// The metric families and the per-label-set collectors already made, so that an event costs a dictionary
/// lookup, not a registry lookup. Touched only under ``InvocationMetrics/state``'s lock.
final class Series: @unchecked Sendable {
    /// A class, so that a request keeps its collectors with one reference, not eight.
    final class Lambda: @unchecked Sendable {
        let invocations: Counter
        let errors: Counter
        let throttles: Counter
        let coldStarts: Counter
        let duration: ValueHistogram
        let initDuration: ValueHistogram
        let concurrent: Gauge
        /// The same counts as plain numbers, for `/status`.
        let totals = InvocationTotals()
        /// `ProvisionedConcurrencyInvocations` and `…SpilloverInvocations`, made on first use (most functions
        /// have no provisioned concurrency).
        var provisionedInvocations: Counter?
        var spilloverInvocations: Counter?
        /// The label set, for the series made on first use.
        var pairs: [(String, String)] = []

        init(
            invocations: Counter, errors: Counter, throttles: Counter, coldStarts: Counter, duration: ValueHistogram,
            initDuration: ValueHistogram, concurrent: Gauge
        ) {
            self.invocations = invocations
            self.errors = errors
            self.throttles = throttles
            self.coldStarts = coldStarts
            self.duration = duration
            self.initDuration = initDuration
            self.concurrent = concurrent
        }
    }

    final class Target: @unchecked Sendable {
        let requests: Counter
        let responseTime: ValueHistogram
        /// `HTTPCode_Target_2XX_Count` … `5XX`, made on first use.
        var codes: [Counter]?

        init(requests: Counter, responseTime: ValueHistogram) {
            self.requests = requests
            self.responseTime = responseTime
        }
    }

    let registry: PrometheusCollectorRegistry
    var lambda: [LambdaLabels: Lambda] = [:]
    var target: [ALBLabels: Target] = [:]
    var elbCodes: [String: [Int: Counter]] = [:]
    var userErrors: [ALBLabels: Counter] = [:]
    var internalErrors: [ALBLabels: Counter] = [:]
    var bytes: [String: Counter] = [:]
    var redirects: [String: Counter] = [:]
    var fixedResponses: [String: Counter] = [:]
    var ruleMatches: [String: [String: Counter]] = [:]
    var environments: [String: EnvironmentGauges] = [:]
    var connections: [String: Connections] = [:]
    var provisioned: [ProvisionedKey: Provisioned] = [:]

    struct ProvisionedKey: Hashable {
        var function: String
        var version: String
    }

    /// One version's provisioned environments: allocated (initialised ahead and not stopped), busy, and the
    /// gauges showing them.
    final class Provisioned: @unchecked Sendable {
        let executions: Gauge
        let utilization: Gauge
        var allocated = 0
        var busy = 0

        init(executions: Gauge, utilization: Gauge) {
            self.executions = executions
            self.utilization = utilization
        }

        func update() {
            executions.set(to: Double(busy))
            utilization.set(to: allocated > 0 ? Double(busy) / Double(allocated) : 0)
        }
    }

    func provisioned(function: String, version: String) -> Provisioned {
        let key = ProvisionedKey(function: function, version: version)
        if let found = provisioned[key] { return found }
        let labels = [("function", function), ("executed_version", version)]
        let made = Provisioned(
            executions: registry.makeGauge(
                descriptor: Self.name(
                    "albatross", "lambda", "provisioned_concurrent_executions", "",
                    "Provisioned environments processing an event now (AWS/Lambda ProvisionedConcurrentExecutions)."),
                labels: labels),
            utilization: registry.makeGauge(
                descriptor: Self.name(
                    "albatross", "lambda", "provisioned_concurrency_utilization", "",
                    "Busy provisioned environments over those allocated (ProvisionedConcurrencyUtilization)."),
                labels: labels))
        provisioned[key] = made
        return made
    }

    func provisionedInvocations(_ lambda: Lambda) -> Counter {
        if let found = lambda.provisionedInvocations { return found }
        let made = registry.makeCounter(
            descriptor: Self.name(
                "albatross", "lambda", "provisioned_concurrency_invocations", "total",
                "Invokes that ran on provisioned concurrency (AWS/Lambda ProvisionedConcurrencyInvocations)."),
            labels: lambda.pairs)
        lambda.provisionedInvocations = made
        return made
    }

    func spilloverInvocations(_ lambda: Lambda) -> Counter {
        if let found = lambda.spilloverInvocations { return found }
        let made = registry.makeCounter(
            descriptor: Self.name(
                "albatross", "lambda", "provisioned_concurrency_spillover_invocations", "total",
                "Invokes of a provisioned version that ran on demand because every provisioned environment was busy "
                    + "(ProvisionedConcurrencySpilloverInvocations)."),
            labels: lambda.pairs)
        lambda.spilloverInvocations = made
        return made
    }

    /// One listener's connection series and the counts they already show.
    final class Connections: @unchecked Sendable {
        let active: Gauge
        let new: Counter
        let rejected: Counter
        var accepted = 0
        var rejectedSoFar = 0

        init(active: Gauge, new: Counter, rejected: Counter) {
            self.active = active
            self.new = new
            self.rejected = rejected
        }
    }
    let residentMemory: Gauge
    let openDescriptors: Gauge

    /// Seconds: from a millisecond to Lambda's 15-minute limit.
    static let durationBuckets: [Double] = [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900,
    ]

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        residentMemory = registry.makeGauge(
            descriptor: Self.name(nil, "process", "resident_memory", "bytes", "Resident memory of this process."))
        openDescriptors = registry.makeGauge(
            descriptor: Self.name(nil, "process", "open_fds", "", "Open file descriptors of this process."))
    }

    static func name(
        _ namespace: String? = "albatross", _ subsystem: String, _ metric: String, _ unit: String, _ help: String
    ) -> MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: namespace, subsystem: subsystem, metricName: metric, unitName: unit, helpText: help)
    }

    func lambda(_ labels: LambdaLabels) -> Lambda {
        if let found = lambda[labels] { return found }
        let pairs = labels.pairs
        let made = Lambda(
            invocations: registry.makeCounter(
                descriptor: Self.name(
                    "albatross", "lambda", "invocations", "total",
                    "Invokes whose code ran, errors included (CloudWatch AWS/Lambda Invocations)."),
                labels: pairs),
            errors: registry.makeCounter(
                descriptor: Self.name(
                    "albatross", "lambda", "errors", "total",
                    "Invokes that ended in a function error or timeout (AWS/Lambda Errors)."),
                labels: pairs),
            throttles: registry.makeCounter(
                descriptor: Self.name(
                    "albatross", "lambda", "throttles", "total",
                    "Invokes refused for lack of concurrency (AWS/Lambda Throttles)."),
                labels: pairs),
            coldStarts: registry.makeCounter(
                descriptor: Self.name(
                    "albatross", "lambda", "cold_starts", "total",
                    "Invokes whose REPORT carried an Init Duration: the first invoke of a new environment."),
                labels: pairs),
            duration: registry.makeValueHistogram(
                descriptor: Self.name(
                    "albatross", "lambda", "duration", "seconds",
                    "Delivery to result of an invoke, the REPORT Duration (AWS/Lambda Duration)."),
                labels: pairs, buckets: Self.durationBuckets),
            initDuration: registry.makeValueHistogram(
                descriptor: Self.name(
                    "albatross", "lambda", "init_duration", "seconds",
                    "INIT of the environment of a cold start, the REPORT Init Duration."),
                labels: pairs, buckets: Self.durationBuckets),
            concurrent: registry.makeGauge(
                descriptor: Self.name(
                    "albatross", "lambda", "concurrent_executions", "",
                    "Environments processing an event now (AWS/Lambda ConcurrentExecutions)."),
                labels: pairs))
        made.pairs = pairs
        lambda[labels] = made
        return made
    }

    func target(_ labels: ALBLabels) -> Target {
        if let last = lastTarget, last.labels == labels { return last.target }
        let found = targetSeries(labels)
        lastTarget = (labels, found)
        return found
    }

    private func targetSeries(_ labels: ALBLabels) -> Target {
        if let found = target[labels] { return found }
        let made = Target(
            requests: registry.makeCounter(
                descriptor: Self.name(
                    "albatross", "alb", "requests", "total",
                    "Requests for which a Lambda target was chosen (AWS/ApplicationELB RequestCount)."),
                labels: labels.pairs),
            responseTime: registry.makeValueHistogram(
                descriptor: Self.name(
                    "albatross", "alb", "target_response_time", "seconds",
                    "Request received to response written, for requests sent to Lambda (TargetResponseTime)."),
                labels: labels.pairs, buckets: Self.durationBuckets))
        target[labels] = made
        return made
    }

    /// `HTTPCode_Target_2XX_Count` … `5XX`, by the function's `statusCode` class.
    func targetCode(_ target: Target, _ labels: ALBLabels, status: Int) -> Counter? {
        guard (200...599).contains(status) else { return nil }
        if let codes = target.codes { return codes[status / 100 - 2] }
        let codes = (2...5).map { hundred in
            registry.makeCounter(
                descriptor: Self.name(
                    "albatross", "alb", "target_responses", "total",
                    "Responses of the function by status class (HTTPCode_Target_2XX_Count … 5XX)."),
                labels: labels.pairs + [("class", "\(hundred)XX")])
        }
        target.codes = codes
        return codes[status / 100 - 2]
    }

    /// `HTTPCode_ELB_4XX_Count`, `HTTPCode_ELB_502_Count`, …: answers of the load balancer itself.
    func elbCode(listener: String, status: Int) -> Counter {
        if let found = elbCodes[listener]?[status] { return found }
        let made = registry.makeCounter(
            descriptor: Self.name(
                "albatross", "alb", "elb_responses", "total",
                "Responses generated by the load balancer, by status code (HTTPCode_ELB_<code>_Count, _3XX/_4XX/_5XX)."
            ),
            labels: [("listener", listener), ("code", String(status))])
        elbCodes[listener, default: [:]][status] = made
        return made
    }

    func lambdaError(_ labels: ALBLabels, isInternal: Bool) -> Counter {
        if isInternal, let found = internalErrors[labels] { return found }
        if !isInternal, let found = userErrors[labels] { return found }
        let made =
            isInternal
            ? registry.makeCounter(
                descriptor: Self.name(
                    "albatross", "alb", "lambda_internal_errors", "total",
                    "Requests that failed inside the load balancer or Lambda (LambdaInternalError)."),
                labels: labels.pairs)
            : registry.makeCounter(
                descriptor: Self.name(
                    "albatross", "alb", "lambda_user_errors", "total",
                    "Requests that failed because of the function or the request (LambdaUserError)."),
                labels: labels.pairs)
        if isInternal { internalErrors[labels] = made } else { userErrors[labels] = made }
        return made
    }

    func perListener(
        _ cache: ReferenceWritableKeyPath<Series, [String: Counter]>, _ listener: String, _ name: MetricNameDescriptor
    ) -> Counter {
        if let found = self[keyPath: cache][listener] { return found }
        let made = registry.makeCounter(descriptor: name, labels: [("listener", listener)])
        self[keyPath: cache][listener] = made
        return made
    }

    /// One-entry caches in front of the dictionaries: a listener, a rule, a target group and a label set repeat
    /// from request to request, and their strings are the same objects each time, so comparing them is cheaper
    /// than hashing them.
    private var lastBytes: (listener: String, counter: Counter)?
    private var lastRule: (listener: String, rule: String, counter: Counter)?
    private var lastTarget: (labels: ALBLabels, target: Target)?
    private var lastLambda: (function: String, qualifier: String?, version: String, lambda: Lambda)?

    /// ``lambda(_:)`` for an invoke resolved as `function` + `qualifier` that ran `executedVersion`.
    func lambda(function: String, qualifier: String?, executedVersion: String) -> Lambda {
        if let last = lastLambda, last.function == function, last.qualifier == qualifier,
            last.version == executedVersion
        {
            return last.lambda
        }
        let found = lambda(
            LambdaLabels(
                function: function, resource: qualifier.map { "\(function):\($0)" } ?? "",
                executedVersion: executedVersion))
        lastLambda = (function, qualifier, executedVersion, found)
        return found
    }

    func bytes(_ listener: String) -> Counter {
        if let last = lastBytes, last.listener == listener { return last.counter }
        let found = bytesCounter(listener)
        lastBytes = (listener, found)
        return found
    }

    private func bytesCounter(_ listener: String) -> Counter {
        perListener(
            \.bytes, listener,
            Self.name(
                "albatross", "alb", "response_body", "bytes_total",
                "Body bytes the listener sent to clients (the response-body part of ProcessedBytes)."))
    }

    func redirect(_ listener: String) -> Counter {
        perListener(
            \.redirects, listener,
            Self.name("albatross", "alb", "redirects", "total", "Redirect actions answered (HTTP_Redirect_Count)."))
    }

    func fixedResponse(_ listener: String) -> Counter {
        perListener(
            \.fixedResponses, listener,
            Self.name(
                "albatross", "alb", "fixed_responses", "total",
                "Fixed-response actions answered (HTTP_Fixed_Response_Count)."))
    }

    func ruleMatch(listener: String, rule: String) -> Counter {
        if let last = lastRule, last.listener == listener, last.rule == rule { return last.counter }
        let found = ruleMatchCounter(listener: listener, rule: rule)
        lastRule = (listener, rule, found)
        return found
    }

    private func ruleMatchCounter(listener: String, rule: String) -> Counter {
        if let found = ruleMatches[listener]?[rule] { return found }
        let made = registry.makeCounter(
            descriptor: Self.name(
                "albatross", "alb", "rule_matches", "total",
                "Requests routed, by the rule that matched (priority or default)."),
            labels: [("listener", listener), ("rule", rule)])
        ruleMatches[listener, default: [:]][rule] = made
        return made
    }

    /// Sets the connection series of one listener from its counts since start (the counters by their growth).
    func connections(_ counts: InvocationMetrics.ConnectionCounts) {
        let labels = [("listener", counts.listener)]
        let found: Connections
        if let known = connections[counts.listener] {
            found = known
        } else {
            found = Connections(
                active: registry.makeGauge(
                    descriptor: Self.name(
                        "albatross", "alb", "active_connections", "",
                        "Open client connections of the listener (ActiveConnectionCount)."),
                    labels: labels),
                new: registry.makeCounter(
                    descriptor: Self.name(
                        "albatross", "alb", "new_connections", "total",
                        "Client connections accepted by the listener (NewConnectionCount)."),
                    labels: labels),
                rejected: registry.makeCounter(
                    descriptor: Self.name(
                        "albatross", "alb", "rejected_connections", "total",
                        "Connections closed at once because the listener had its maximum open (RejectedConnectionCount)."
                    ),
                    labels: labels))
            connections[counts.listener] = found
        }
        found.active.set(to: Double(counts.active))
        if counts.accepted > found.accepted {
            found.new.increment(by: Int64(counts.accepted - found.accepted))
            found.accepted = counts.accepted
        }
        if counts.rejected > found.rejectedSoFar {
            found.rejected.increment(by: Int64(counts.rejected - found.rejectedSoFar))
            found.rejectedSoFar = counts.rejected
        }
    }

    /// The asynchronous-invocation series of one function and resource (observability.md §6.2 label set `fn`).
    final class Async: @unchecked Sendable {
        let received: Counter
        let age: ValueHistogram
        let deadLetterErrors: Counter
        let destinationFailures: Counter
        var dropped: [String: Counter] = [:]

        init(received: Counter, age: ValueHistogram, deadLetterErrors: Counter, destinationFailures: Counter) {
            self.received = received
            self.age = age
            self.deadLetterErrors = deadLetterErrors
            self.destinationFailures = destinationFailures
        }
    }
    var async: [[String]: Async] = [:]

    /// Seconds an event waited: from a millisecond to the 6-hour maximum event age.
    static let asyncAgeBuckets: [Double] = [0.001, 0.01, 0.1, 1, 10, 60, 180, 600, 1800, 3600, 21600]

    /// Counts one event of the asynchronous-invocation queue.
    func asyncEvent(_ event: InvocationEvent.Async) {
        let resource = event.qualifier.map { "\(event.function):\($0)" } ?? ""
        let key = [event.function, resource]
        let pairs = [("function", event.function), ("resource", resource)]
        let found: Async
        if let known = async[key] {
            found = known
        } else {
            found = Async(
                received: registry.makeCounter(
                    descriptor: Self.name(
                        "albatross", "lambda", "async_events_received", "total",
                        "Events queued for asynchronous invocation (AWS/Lambda AsyncEventsReceived)."),
                    labels: pairs),
                age: registry.makeValueHistogram(
                    descriptor: Self.name(
                        "albatross", "lambda", "async_event_age", "seconds",
                        "Queued to attempt, per attempt of an asynchronous event (AWS/Lambda AsyncEventAge)."),
                    labels: pairs, buckets: Self.asyncAgeBuckets),
                deadLetterErrors: registry.makeCounter(
                    descriptor: Self.name(
                        "albatross", "lambda", "dead_letter_errors", "total",
                        "Discarded events that could not be written to the dead-letter target (AWS/Lambda DeadLetterErrors)."
                    ),
                    labels: pairs),
                destinationFailures: registry.makeCounter(
                    descriptor: Self.name(
                        "albatross", "lambda", "destination_delivery_failures", "total",
                        "Records that could not be sent to their destination (AWS/Lambda DestinationDeliveryFailures)."),
                    labels: pairs))
            async[key] = found
        }
        switch event.stage {
        case .received: found.received.increment()
        case .attempted(let ageMs): found.age.record(ageMs / 1000)
        case .dropped(let reason):
            if let counter = found.dropped[reason] {
                counter.increment()
            } else {
                let counter = registry.makeCounter(
                    descriptor: Self.name(
                        "albatross", "lambda", "async_events_dropped", "total",
                        "Asynchronous events discarded without a successful run, by reason (AWS/Lambda AsyncEventsDropped)."
                    ),
                    labels: pairs + [("reason", reason)])
                found.dropped[reason] = counter
                counter.increment()
            }
        case .deadLetterFailed: found.deadLetterErrors.increment()
        case .destinationFailed: found.destinationFailures.increment()
        }
    }

    /// The gauges of one function's environments by state.
    func environments(function: String) -> EnvironmentGauges {
        if let found = environments[function] { return found }
        let gauges = EnvironmentState.allCases.map { each in
            registry.makeGauge(
                descriptor: Self.name(
                    "albatross", "", "environments", "",
                    "Execution environments of a function by state (initializing, ready, busy, frozen)."),
                labels: [("function", function), ("state", each.rawValue)])
        }
        let made = EnvironmentGauges(gauges: gauges)
        environments[function] = made
        return made
    }
}

/// One function's `albatross_environments` gauges, indexed by ``EnvironmentState``.
struct EnvironmentGauges {
    let gauges: [Gauge]

    subscript(state: EnvironmentState) -> Gauge { gauges[state.index] }
}

/// Where an execution environment is in its life, as far as the events tell. `frozen`: idle and frozen (its
/// `freeze` event); an invoke placed on it makes it `busy` again.
enum EnvironmentState: String, CaseIterable, Hashable {
    case initializing, ready, busy, frozen

    var index: Int {
        switch self {
        case .initializing: return 0
        case .ready: return 1
        case .busy: return 2
        case .frozen: return 3
        }
    }
}

// MARK: - counting

/// What is known about each environment between its events. Touched only under the lock.
///
/// Environments are objects in their table (keyed by their stream's small integer id), so that an event updates
/// its entry in place; the invoke an environment runs keeps the collectors its later events need (looked up once).
/// No table of requests: the invoke's events carry its qualifier (so its labels) and the front end's
/// `responseWritten` says whether an invoke was attempted, so no event waits for another of its request.
struct State {
    final class Environment: @unchecked Sendable {
        let function: String
        let gauges: EnvironmentGauges
        var state: EnvironmentState
        let version: String
        let stream: String
        let pid: Int32?
        let createdAt: NIODeadline
        var lastUsed: NIODeadline
        var invocations = 0
        /// Its version's provisioned gauges, for a provisioned-concurrency environment.
        var provisioned: Series.Provisioned?
        /// The collectors of the invoke it runs, from its `invokeStarted` until its `invokeFinished`.
        var running: Series.Lambda?

        init(
            function: String, gauges: EnvironmentGauges, version: String, stream: String, pid: Int32?,
            createdAt: NIODeadline, lastUsed: NIODeadline
        ) {
            self.function = function
            self.gauges = gauges
            self.state = .initializing
            self.version = version
            self.stream = stream
            self.pid = pid
            self.createdAt = createdAt
            self.lastUsed = lastUsed
        }

        func set(_ state: EnvironmentState) {
            guard self.state != state else { return }
            gauges[self.state].decrement()
            gauges[state].increment()
            self.state = state
        }
    }

    var environments: [Int: Environment] = [:]

    /// Counts one event. Handed a pointer into the batch, not the event: passed by value (the batch's buffer read
    /// next to the state's exclusive access) each event was copied out of the batch and destroyed again, some
    /// 250 instructions an event.
    mutating func handle(_ pointer: UnsafePointer<InvocationEvent>, series: Series) {
        let at = pointer.pointee.at
        switch pointer.pointee.detail {
        case .received, .resolved:
            // Not subscribed: `responseWritten` carries the routing, the invoke's events its qualifier.
            break
        case .placed(let placed):
            guard case .throttled = placed.placement else { return }
            let lambda = series.lambda(
                function: placed.function, qualifier: placed.qualifier, executedVersion: placed.version)
            lambda.throttles.increment()
            lambda.totals.throttles += 1
        case .invokeStarted(let started):
            guard let environment = environments[started.environment.id] else { return }
            let lambda = series.lambda(
                function: started.environment.functionName, qualifier: started.qualifier,
                executedVersion: started.version)
            lambda.concurrent.increment()
            environment.set(.busy)
            environment.running = lambda
            if started.capacity == .provisioned, let provisioned = environment.provisioned {
                provisioned.busy += 1
                provisioned.update()
            }
        case .invokeFinished(let finished):
            let environment = environments[finished.environment.id]
            // The invoke's `invokeStarted` came (its event reached the runtime): it has a Duration and was
            // counted as a concurrent execution.
            let running = environment?.running
            if let environment {
                environment.running = nil
                environment.invocations += 1
                environment.lastUsed = at
                if environment.state == .busy {
                    environment.set(.ready)
                    if finished.capacity == .provisioned, let provisioned = environment.provisioned {
                        provisioned.busy = max(0, provisioned.busy - 1)
                        provisioned.update()
                    }
                }
            }
            let lambda =
                running
                ?? series.lambda(
                    function: finished.environment.functionName, qualifier: finished.qualifier,
                    executedVersion: finished.version)
            lambda.invocations.increment()
            switch finished.capacity {
            case .provisioned:
                series.provisionedInvocations(lambda).increment()
            case .spillover:
                series.spilloverInvocations(lambda).increment()
            case .onDemand:
                break
            }
            if finished.status != nil { lambda.errors.increment() }
            lambda.totals.count(finished)
            // Only an invoke whose event reached the runtime has a Duration (an INIT failure before delivery has
            // none); without the environment's events (a subscriber attached late), a Duration says it did.
            let started = running != nil || (environment == nil && finished.durationMs > 0)
            if started { lambda.duration.record(finished.durationMs / 1000) }
            if let initMs = finished.initDurationMs {
                lambda.coldStarts.increment()
                lambda.initDuration.record(initMs / 1000)
            }
            if running != nil { lambda.concurrent.decrement() }
        case .responseWritten(let written):
            responseWritten(written, at: at, series: series)
        case .initStarted(let started):
            let gauges = series.environments(function: started.environment.functionName)
            // A re-run of INIT starts the same environment again.
            if let previous = environments[started.environment.id] { previous.gauges[previous.state].decrement() }
            gauges[.initializing].increment()
            let environment = Environment(
                function: started.environment.functionName, gauges: gauges, version: started.version,
                stream: started.environment.streamName, pid: started.pid, createdAt: started.createdAt,
                lastUsed: at)
            if started.initializationType == .provisionedConcurrency {
                let provisioned = series.provisioned(
                    function: started.environment.functionName, version: started.version)
                provisioned.allocated += 1
                provisioned.update()
                environment.provisioned = provisioned
            }
            environments[started.environment.id] = environment
        case .initFinished(let finished):
            guard let environment = environments[finished.environment.id], environment.state == .initializing else {
                return
            }
            switch finished.result {
            case .failed, .timedOut: return
            case .ready, .suppressed: environment.set(.ready)
            }
        case .environmentStopped(let stopped):
            if let environment = environments.removeValue(forKey: stopped.environment.id) {
                environment.gauges[environment.state].decrement()
                // An invoke whose end never came (cut short by a shutdown) no longer runs.
                environment.running?.concurrent.decrement()
                if let provisioned = environment.provisioned {
                    provisioned.allocated -= 1
                    if environment.state == .busy { provisioned.busy = max(0, provisioned.busy - 1) }
                    provisioned.update()
                }
            }
        case .async(let async):
            series.asyncEvent(async)
        case .freeze(let freeze):
            guard let environment = environments[freeze.environment.id] else { return }
            if freeze.frozen {
                if environment.state != .initializing { environment.set(.frozen) }
            } else if environment.state == .frozen {
                environment.set(.ready)
            }
        case .output, .runtimeNext:
            break
        }
    }

    /// `error_reason` codes that CloudWatch counts as LambdaInternalError (observability.md §3.5); every other
    /// `Lambda*` code is a LambdaUserError.
    static let internalReasons: Set<String> = [
        "LambdaConnectionError", "LambdaConnectionTimeout", "LambdaServiceException", "LambdaUnhandledException",
    ]

    private mutating func responseWritten(_ written: InvocationEvent.ResponseWritten, at: NIODeadline, series: Series) {
        let listener = written.listener
        let reason = written.albErrorReason
        let invoked = written.invoked
        let routing = written.routing
        let group = routing?.targetGroup
        if let routing { series.ruleMatch(listener: listener, rule: routing.rule).increment() }
        let labels = ALBLabels(listener: listener, targetGroup: group ?? "")
        series.bytes(listener).increment(by: Int64(written.bytes))
        // The target collectors, looked up at most once.
        var target: Series.Target?
        func targetCollectors() -> Series.Target {
            if let target { return target }
            let found = series.target(labels)
            target = found
            return found
        }
        if group != nil, invoked || (reason != nil && reason != "LambdaRequestTooLarge") {
            targetCollectors().requests.increment()
        }
        if invoked, let start = routing?.at {
            targetCollectors().responseTime.record(Double((at - start).nanoseconds) / 1e9)
        }
        if invoked && reason == nil {
            series.targetCode(targetCollectors(), labels, status: written.status)?.increment()
        } else {
            if written.status >= 300 { series.elbCode(listener: listener, status: written.status).increment() }
            if routing != nil, group == nil {
                if (300...399).contains(written.status) {
                    series.redirect(listener).increment()
                } else {
                    series.fixedResponse(listener).increment()
                }
            }
        }
        if let reason, reason.hasPrefix("Lambda") {
            series.lambdaError(labels, isInternal: Self.internalReasons.contains(reason)).increment()
        }
    }
}
