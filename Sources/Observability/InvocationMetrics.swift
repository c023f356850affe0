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

    public var interests: InvocationEvent.Kinds {
        [
            .received, .resolved, .placed, .initStarted, .initFinished, .invokeStarted, .invokeFinished,
            .responseWritten, .environmentStopped,
        ]
    }

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        self.series = Series(registry: registry)
        self.state = NIOLockedValueBox(State())
    }

    /// Subscribes to `bus`; the returned subscription reports dropped events.
    @discardableResult
    public func attach(to bus: InvocationEventBus) -> InvocationEventSubscription {
        bus.subscribe(self, name: "metrics")
    }

    public func receive(_ events: [InvocationEvent]) {
        state.withLockedValue { state in
            for event in events { state.handle(event, series: series) }
            state.sweep(now: events.last?.at ?? .now())
        }
    }

    /// The Prometheus text exposition (format 0.0.4), with the process gauges read now. Reads `/proc`: call it
    /// from a thread that may block.
    public func exposition() -> String {
        let process = ProcessStatistics.read()
        if let resident = process.residentMemoryBytes { series.residentMemory.set(to: Double(resident)) }
        if let descriptors = process.openDescriptors { series.openDescriptors.set(to: Double(descriptors)) }
        return registry.emitToString()
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
    struct Lambda {
        let invocations: Counter
        let errors: Counter
        let throttles: Counter
        let coldStarts: Counter
        let duration: ValueHistogram
        let initDuration: ValueHistogram
        let concurrent: Gauge
    }

    struct Target {
        let requests: Counter
        let responseTime: ValueHistogram
    }

    let registry: PrometheusCollectorRegistry
    var lambda: [LambdaLabels: Lambda] = [:]
    var target: [ALBLabels: Target] = [:]
    var targetCodes: [ALBLabels: [Counter]] = [:]
    var elbCodes: [String: [Int: Counter]] = [:]
    var userErrors: [ALBLabels: Counter] = [:]
    var internalErrors: [ALBLabels: Counter] = [:]
    var bytes: [String: Counter] = [:]
    var redirects: [String: Counter] = [:]
    var fixedResponses: [String: Counter] = [:]
    var ruleMatches: [String: [String: Counter]] = [:]
    var environments: [String: [EnvironmentState: Gauge]] = [:]
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
        lambda[labels] = made
        return made
    }

    func target(_ labels: ALBLabels) -> Target {
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
    func targetCode(_ labels: ALBLabels, status: Int) -> Counter? {
        guard (200...599).contains(status) else { return nil }
        let counters: [Counter]
        if let found = targetCodes[labels] {
            counters = found
        } else {
            counters = (2...5).map { hundred in
                registry.makeCounter(
                    descriptor: Self.name(
                        "albatross", "alb", "target_responses", "total",
                        "Responses of the function by status class (HTTPCode_Target_2XX_Count … 5XX)."),
                    labels: labels.pairs + [("class", "\(hundred)XX")])
            }
            targetCodes[labels] = counters
        }
        return counters[status / 100 - 2]
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

    func bytes(_ listener: String) -> Counter {
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
        if let found = ruleMatches[listener]?[rule] { return found }
        let made = registry.makeCounter(
            descriptor: Self.name(
                "albatross", "alb", "rule_matches", "total",
                "Requests routed, by the rule that matched (priority or default)."),
            labels: [("listener", listener), ("rule", rule)])
        ruleMatches[listener, default: [:]][rule] = made
        return made
    }

    func environments(function: String, state: EnvironmentState) -> Gauge {
        if let found = environments[function]?[state] { return found }
        var made: [EnvironmentState: Gauge] = [:]
        for each in EnvironmentState.allCases {
            made[each] = registry.makeGauge(
                descriptor: Self.name(
                    "albatross", "", "environments", "",
                    "Execution environments of a function by state (initializing, idle, busy)."),
                labels: [("function", function), ("state", each.rawValue)])
        }
        environments[function] = made
        return made[state]!
    }
}

/// Where an execution environment is in its life, as far as the events tell.
enum EnvironmentState: String, CaseIterable, Hashable {
    case initializing, idle, busy
}

// MARK: - counting

/// What is known about one request or environment between its events. Touched only under the lock.
struct State {
    /// One request's facts, gathered from its events (which come from several threads, but in causal order).
    struct Request {
        var at: NIODeadline
        var lambda: LambdaLabels?
        /// An invoke was resolved and has not finished or been throttled yet.
        var lambdaPending = false
        var started = false
        var listener: String?
        var targetGroup: String?
        var routed = false
        var albPending = false
    }

    struct Environment {
        var function: String
        var state: EnvironmentState
    }

    var requests: [String: Request] = [:]
    var environments: [Int: Environment] = [:]

    /// Requests whose last events never came (an invoke cut short by a shutdown) are forgotten after this long;
    /// longer than any invoke (15 minutes) plus INIT.
    static let forgetAfter = TimeAmount.minutes(30)
    private var nextSweep = NIODeadline.uptimeNanoseconds(0)

    mutating func handle(_ event: InvocationEvent, series: Series) {
        switch event.detail {
        case .received(let received):
            var request = requests[event.requestID] ?? Request(at: event.at)
            request.at = event.at
            request.listener = received.listener
            request.targetGroup = received.targetGroup
            request.routed = true
            request.albPending = true
            requests[event.requestID] = request
            series.ruleMatch(listener: received.listener, rule: received.rule).increment()
        case .resolved(let resolved):
            var request = requests[event.requestID] ?? Request(at: event.at)
            request.lambda = LambdaLabels(
                function: resolved.function,
                resource: resolved.qualifier.map { "\(resolved.function):\($0)" } ?? "",
                executedVersion: resolved.executedVersion)
            request.lambdaPending = true
            requests[event.requestID] = request
        case .placed(let placed):
            guard case .throttled = placed.placement else { return }
            let labels =
                requests[event.requestID]?.lambda
                ?? LambdaLabels(function: placed.function, resource: "", executedVersion: placed.version)
            series.lambda(labels).throttles.increment()
            finishLambda(event.requestID)
        case .invokeStarted(let started):
            if var environment = environments[started.environment.id] {
                setEnvironment(&environment, to: .busy, id: started.environment.id, series: series)
            }
            guard var request = requests[event.requestID], let labels = request.lambda else { return }
            request.started = true
            requests[event.requestID] = request
            series.lambda(labels).concurrent.increment()
        case .invokeFinished(let finished):
            if var environment = environments[finished.environment.id], environment.state == .busy {
                setEnvironment(&environment, to: .idle, id: finished.environment.id, series: series)
            }
            let request = requests[event.requestID]
            let labels =
                request?.lambda
                ?? LambdaLabels(
                    function: finished.environment.functionName, resource: "", executedVersion: finished.version)
            let lambda = series.lambda(labels)
            lambda.invocations.increment()
            if finished.status != nil { lambda.errors.increment() }
            // Only an invoke whose event reached the runtime has a Duration (an INIT failure before delivery has none).
            if request?.started ?? (finished.durationMs > 0) { lambda.duration.record(finished.durationMs / 1000) }
            if let initMs = finished.initDurationMs {
                lambda.coldStarts.increment()
                lambda.initDuration.record(initMs / 1000)
            }
            if request?.started == true { lambda.concurrent.decrement() }
            finishLambda(event.requestID)
        case .responseWritten(let written):
            responseWritten(written, requestID: event.requestID, at: event.at, series: series)
        case .initStarted(let started):
            let environment = Environment(function: started.environment.functionName, state: .initializing)
            series.environments(function: environment.function, state: .initializing).increment()
            environments[started.environment.id] = environment
        case .initFinished(let finished):
            guard var environment = environments[finished.environment.id], environment.state == .initializing else {
                return
            }
            if case .failed = finished.result { return }
            setEnvironment(&environment, to: .idle, id: finished.environment.id, series: series)
        case .environmentStopped(let stopped):
            if let environment = environments.removeValue(forKey: stopped.environment.id) {
                series.environments(function: environment.function, state: environment.state).decrement()
            }
        case .output, .runtimeNext:
            break
        }
    }

    private mutating func setEnvironment(
        _ environment: inout Environment, to state: EnvironmentState, id: Int, series: Series
    ) {
        guard environment.state != state else { return }
        series.environments(function: environment.function, state: environment.state).decrement()
        series.environments(function: environment.function, state: state).increment()
        environment.state = state
        environments[id] = environment
    }

    /// The Lambda side of a request is done; the entry goes once the ALB side is done too.
    private mutating func finishLambda(_ requestID: String) {
        guard var request = requests[requestID] else { return }
        request.lambdaPending = false
        if request.albPending {
            requests[requestID] = request
        } else {
            requests[requestID] = nil
        }
    }

    /// `error_reason` codes that CloudWatch counts as LambdaInternalError (observability.md §3.5); every other
    /// `Lambda*` code is a LambdaUserError.
    static let internalReasons: Set<String> = [
        "LambdaConnectionError", "LambdaConnectionTimeout", "LambdaServiceException", "LambdaUnhandledException",
    ]

    private mutating func responseWritten(
        _ written: InvocationEvent.ResponseWritten, requestID: String, at: NIODeadline, series: Series
    ) {
        var request = requests[requestID]
        let listener = written.listener.isEmpty ? (request?.listener ?? "") : written.listener
        let reason = written.albErrorReason
        let invoked = request?.lambda != nil
        let group = request?.targetGroup
        let labels = ALBLabels(listener: listener, targetGroup: group ?? "")
        series.bytes(listener).increment(by: Int64(written.bytes))
        if group != nil, invoked || (reason != nil && reason != "LambdaRequestTooLarge") {
            series.target(labels).requests.increment()
        }
        if invoked, let start = request?.at {
            series.target(labels).responseTime.record(Double((at - start).nanoseconds) / 1e9)
        }
        if invoked && reason == nil {
            series.targetCode(labels, status: written.status)?.increment()
        } else {
            if written.status >= 300 { series.elbCode(listener: listener, status: written.status).increment() }
            if request?.routed == true, group == nil {
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
        guard request != nil else { return }
        request!.albPending = false
        if request!.lambdaPending {
            requests[requestID] = request
        } else {
            requests[requestID] = nil
        }
    }

    /// Forgets requests whose remaining events will never come, so that the table stays bounded.
    mutating func sweep(now: NIODeadline) {
        guard now >= nextSweep else { return }
        nextSweep = now + .minutes(1)
        let limit = now - Self.forgetAfter
        requests = requests.filter { $0.value.at > limit }
    }
}
