import Foundation
import InvocationModel
import LambdaModel
import NIOCore
import Testing

@testable import Observability

/// The metrics subscriber fed hand-built event sequences: exact counts and labels per the counting rules of
/// observability.md §1.4 (Lambda) and §2.3 (ALB).
struct InvocationMetricsTests {
    /// Samples of an exposition by series (`name{labels}` → value).
    static func samples(_ text: String) -> [String: Double] {
        var result: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            result[String(line[..<space])] = value
        }
        return result
    }

    /// Builds events with increasing timestamps, 10 ms apart. As the emitters do, a `responseWritten` carries the
    /// routing of its request's `received` and says whether an invoke was attempted (a `resolved` came), and the
    /// invoke's `placed`, `invokeStarted` and `invokeFinished` carry the qualifier its `resolved` names.
    struct Script {
        var clock = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var events: [InvocationEvent] = []
        var routing: [String: InvocationEvent.ResponseWritten.Routing] = [:]
        /// Request id → the qualifier of its `resolved` (nil inside: unqualified).
        var resolved: [String: String?] = [:]

        mutating func add(_ requestID: String, _ detail: InvocationEvent.Detail) {
            clock = clock + .milliseconds(10)
            var detail = detail
            let qualifier = resolved[requestID] ?? nil
            switch detail {
            case .received(let received):
                routing[requestID] = .init(rule: received.rule, targetGroup: received.targetGroup, at: clock)
            case .resolved(let resolution):
                resolved[requestID] = .some(resolution.qualifier)
            case .responseWritten(var written):
                if written.routing == nil { written.routing = routing[requestID] }
                written.invoked = resolved[requestID] != nil
                detail = .responseWritten(written)
            case .placed(var placed) where placed.qualifier == nil:
                placed.qualifier = qualifier
                detail = .placed(placed)
            case .invokeStarted(var started) where started.qualifier == nil:
                started.qualifier = qualifier
                detail = .invokeStarted(started)
            case .invokeFinished(var finished) where finished.qualifier == nil:
                finished.qualifier = qualifier
                detail = .invokeFinished(finished)
            default:
                break
            }
            events.append(InvocationEvent(at: clock, requestID: requestID, detail: detail))
        }
    }

    static func stream(_ function: String, _ version: String, id: Int) -> LogStreamName {
        LogStreamName(
            functionName: function, version: version, epochSeconds: 0, hex: String(repeating: "a", count: 32), id: id)
    }

    static func finished(
        _ environment: LogStreamName, version: String, initMs: Double? = nil, durationMs: Double, status: String? = nil
    ) -> InvocationEvent.Detail {
        .invokeFinished(
            .init(
                environment: environment, version: version, memorySizeMB: 128, initDurationMs: initMs,
                durationMs: durationMs, billedDurationMs: Int(durationMs.rounded(.up)), overheadMs: 0, status: status,
                errorType: status == nil ? nil : "Unhandled", errorMessage: nil, timeoutSeconds: 3, pid: nil,
                receivedAt: .now(), deliveredAt: nil))
    }

    static let listener = "HTTP:8080"

    static func received(_ group: String?, rule: String = "default") -> InvocationEvent.Detail {
        .received(.init(listener: listener, rule: rule, targetGroup: group))
    }

    static func written(_ status: Int, _ bytes: Int, _ reason: String? = nil) -> InvocationEvent.Detail {
        .responseWritten(.init(status: status, bytes: bytes, albErrorReason: reason, listener: listener))
    }

    static func resolved(_ qualifier: String?, alias: String?, version: String) -> InvocationEvent.Detail {
        .resolved(.init(function: "shop", qualifier: qualifier, alias: alias, executedVersion: version))
    }

    @Test func aMixOfOutcomesIsCountedAsCloudWatchCountsIt() {
        let metrics = InvocationMetrics()
        let one = Self.stream("shop", "1", id: 1)
        let two = Self.stream("shop", "2", id: 2)
        var script = Script()
        // 1. Cold start through the alias, version 1, success.
        script.add("r1", Self.received("live"))
        script.add("r1", Self.resolved("live", alias: "live", version: "1"))
        script.add("r1", .placed(.init(function: "shop", version: "1", placement: .coldStart, environment: nil)))
        script.add(
            "r1", .initStarted(.init(environment: one, version: "1", runtimeVersion: "x", pid: nil, createdAt: .now())))
        script.add("r1", .initFinished(.init(environment: one, durationMs: 40, result: .ready)))
        script.add("r1", .invokeStarted(.init(environment: one, version: "1", receivedAt: .now())))
        metrics.receive(script.events)
        script.events = []
        let during = Self.samples(metrics.exposition())
        #expect(
            during[
                #"albatross_lambda_concurrent_executions{function="shop",resource="shop:live",executed_version="1"}"#]
                == 1)
        #expect(during[#"albatross_environments{function="shop",state="busy"}"#] == 1)
        script.add("r1", Self.finished(one, version: "1", initMs: 40, durationMs: 12))
        script.add("r1", Self.written(200, 5))
        // 2. Cold start of version 2 through the alias; the function fails, and the front end writes its 502
        // before the finished event reaches the subscriber (they come from different loops).
        script.add("r2", Self.received("live"))
        script.add("r2", Self.resolved("live", alias: "live", version: "2"))
        script.add(
            "r2", .initStarted(.init(environment: two, version: "2", runtimeVersion: "x", pid: nil, createdAt: .now())))
        script.add("r2", .initFinished(.init(environment: two, durationMs: 30, result: .ready)))
        script.add("r2", .invokeStarted(.init(environment: two, version: "2", receivedAt: .now())))
        script.add("r2", Self.written(502, 110, "LambdaUnhandled"))
        script.add("r2", Self.finished(two, version: "2", initMs: 30, durationMs: 7, status: "error"))
        // 3. Warm on version 1 through the alias; it times out.
        script.add("r3", Self.received("live"))
        script.add("r3", Self.resolved("live", alias: "live", version: "1"))
        script.add("r3", .placed(.init(function: "shop", version: "1", placement: .warm, environment: one)))
        script.add("r3", .invokeStarted(.init(environment: one, version: "1", receivedAt: .now())))
        script.add("r3", Self.finished(one, version: "1", durationMs: 3000, status: "timeout"))
        script.add("r3", Self.written(502, 110, "LambdaUnhandled"))
        // 4. Throttled, on the version target group.
        script.add("r4", Self.received("v1", rule: "1"))
        script.add("r4", Self.resolved("1", alias: nil, version: "1"))
        script.add(
            "r4", .placed(.init(function: "shop", version: "1", placement: .throttled(reason: "x"), environment: nil)))
        script.add("r4", Self.written(502, 110, "LambdaThrottling"))
        // 5. Body over 1 MB: answered before routing, no received event.
        script.add("r5", Self.written(413, 130, "LambdaRequestTooLarge"))
        // 6. A target group without a target.
        script.add("r6", Self.received("empty", rule: "2"))
        script.add("r6", Self.written(503, 120))
        // 7. A redirect, and a fixed response with the function-like status 404.
        script.add("r7", Self.received(nil, rule: "3"))
        script.add("r7", Self.written(301, 0))
        script.add("r8", Self.received(nil, rule: "4"))
        script.add("r8", Self.written(404, 9))
        // 9. The function's own statusCode 500, unqualified target group (executed $LATEST).
        let latest = Self.stream("shop", "$LATEST", id: 3)
        script.add("r9", Self.received("latest"))
        script.add("r9", Self.resolved(nil, alias: nil, version: "$LATEST"))
        script.add(
            "r9",
            .initStarted(
                .init(environment: latest, version: "$LATEST", runtimeVersion: "x", pid: nil, createdAt: .now())))
        script.add("r9", .initFinished(.init(environment: latest, durationMs: 20, result: .ready)))
        script.add("r9", .invokeStarted(.init(environment: latest, version: "$LATEST", receivedAt: .now())))
        script.add("r9", Self.finished(latest, version: "$LATEST", initMs: 20, durationMs: 2))
        script.add("r9", Self.written(500, 4))
        script.add("", .environmentStopped(.init(environment: two, reason: .idle)))
        metrics.receive(script.events)
        let text = metrics.exposition()
        let s = Self.samples(text)

        let alias1 = #"function="shop",resource="shop:live",executed_version="1""#
        let alias2 = #"function="shop",resource="shop:live",executed_version="2""#
        let version1 = #"function="shop",resource="shop:1",executed_version="1""#
        let unqualified = #"function="shop",resource="",executed_version="$LATEST""#
        // Lambda: throttles are neither invocations nor errors; timeouts and function errors are both.
        #expect(s["albatross_lambda_invocations_total{\(alias1)}"] == 2)
        #expect(s["albatross_lambda_invocations_total{\(alias2)}"] == 1)
        #expect(s["albatross_lambda_invocations_total{\(version1)}"] == 0, "a throttle is no invocation")
        #expect(s["albatross_lambda_invocations_total{\(unqualified)}"] == 1)
        #expect(s["albatross_lambda_errors_total{\(alias1)}"] == 1)
        #expect(s["albatross_lambda_errors_total{\(alias2)}"] == 1)
        #expect(s["albatross_lambda_errors_total{\(unqualified)}"] == 0)
        #expect(s["albatross_lambda_throttles_total{\(version1)}"] == 1)
        #expect(s["albatross_lambda_throttles_total{\(alias1)}"] == 0)
        #expect(s["albatross_lambda_cold_starts_total{\(alias1)}"] == 1)
        #expect(s["albatross_lambda_cold_starts_total{\(alias2)}"] == 1)
        #expect(s["albatross_lambda_duration_seconds_count{\(alias1)}"] == 2)
        #expect(abs((s["albatross_lambda_duration_seconds_sum{\(alias1)}"] ?? 0) - 3.012) < 1e-9)
        #expect(s[#"albatross_lambda_duration_seconds_bucket{\#(alias1),le="0.025"}"#] == 1)
        #expect(s[#"albatross_lambda_duration_seconds_bucket{\#(alias1),le="5.0"}"#] == 2)
        #expect(s["albatross_lambda_init_duration_seconds_count{\(alias1)}"] == 1)
        #expect(abs((s["albatross_lambda_init_duration_seconds_sum{\(alias2)}"] ?? 0) - 0.03) < 1e-9)
        #expect(s["albatross_lambda_concurrent_executions{\(alias1)}"] == 0)
        #expect(s["albatross_lambda_concurrent_executions{\(alias2)}"] == 0)

        // ALB.
        let live = #"listener="HTTP:8080",target_group="live""#
        let v1 = #"listener="HTTP:8080",target_group="v1""#
        let none = #"listener="HTTP:8080",target_group="""#
        #expect(s["albatross_alb_requests_total{\(live)}"] == 3)
        #expect(s["albatross_alb_requests_total{\(v1)}"] == 1, "a throttled request reached a target")
        #expect(s[#"albatross_alb_requests_total{listener="HTTP:8080",target_group="empty"}"#] == nil)
        #expect(s[#"albatross_alb_requests_total{listener="HTTP:8080",target_group="latest"}"#] == 1)
        #expect(s[#"albatross_alb_target_responses_total{\#(live),class="2XX"}"#] == 1)
        #expect(s[#"albatross_alb_target_responses_total{\#(live),class="5XX"}"#] == 0)
        #expect(
            s[#"albatross_alb_target_responses_total{listener="HTTP:8080",target_group="latest",class="5XX"}"#] == 1)
        #expect(s[#"albatross_alb_elb_responses_total{listener="HTTP:8080",code="502"}"#] == 3)
        #expect(s[#"albatross_alb_elb_responses_total{listener="HTTP:8080",code="413"}"#] == 1)
        #expect(s[#"albatross_alb_elb_responses_total{listener="HTTP:8080",code="503"}"#] == 1)
        #expect(s[#"albatross_alb_elb_responses_total{listener="HTTP:8080",code="301"}"#] == 1)
        #expect(s[#"albatross_alb_elb_responses_total{listener="HTTP:8080",code="404"}"#] == 1)
        #expect(s[#"albatross_alb_elb_responses_total{listener="HTTP:8080",code="200"}"#] == nil)
        #expect(s[#"albatross_alb_redirects_total{listener="HTTP:8080"}"#] == 1)
        #expect(s[#"albatross_alb_fixed_responses_total{listener="HTTP:8080"}"#] == 1)
        #expect(s["albatross_alb_lambda_user_errors_total{\(live)}"] == 2)
        #expect(s["albatross_alb_lambda_user_errors_total{\(v1)}"] == 1)
        #expect(s["albatross_alb_lambda_user_errors_total{\(none)}"] == 1, "the 413, before routing")
        #expect(s["albatross_alb_lambda_internal_errors_total{\(live)}"] == nil)
        #expect(s["albatross_alb_target_response_time_seconds_count{\(live)}"] == 3)
        #expect(s["albatross_alb_target_response_time_seconds_count{\(v1)}"] == 1)
        #expect(s[#"albatross_alb_response_body_bytes_total{listener="HTTP:8080"}"#] == 598)
        #expect(s[#"albatross_alb_rule_matches_total{listener="HTTP:8080",rule="default"}"#] == 4)
        #expect(s[#"albatross_alb_rule_matches_total{listener="HTTP:8080",rule="1"}"#] == 1)

        // Environments: version 1's and $LATEST's are idle, version 2's stopped.
        #expect(s[#"albatross_environments{function="shop",state="ready"}"#] == 2)
        #expect(s[#"albatross_environments{function="shop",state="busy"}"#] == 0)
        #expect(s[#"albatross_environments{function="shop",state="initializing"}"#] == 0)
        #expect((s["process_resident_memory_bytes"] ?? 0) > 1_000_000)
        #expect((s["process_open_fds"] ?? 0) >= 3)
        #expect(text.contains("# TYPE albatross_lambda_invocations_total counter"))
        #expect(text.contains("# TYPE albatross_lambda_duration_seconds histogram"))
    }

    /// `freeze` events: an idle environment frozen shows as `frozen` (in `albatross_environments` and `/status`),
    /// the invoke placed on it makes it `busy`, its end `ready` until the next freeze; a thaw with no invoke makes it
    /// `ready`. Request ids of the platform's length (the request table hashes their last 16 bytes).
    @Test func frozenEnvironmentsAreCountedAndShownAsFrozen() {
        let metrics = InvocationMetrics()
        // Distinct streams, so that `/status` lists them in a known order.
        let one = LogStreamName(
            functionName: "shop", version: "1", epochSeconds: 0, hex: String(repeating: "a", count: 32), id: 1)
        let two = LogStreamName(
            functionName: "shop", version: "1", epochSeconds: 0, hex: String(repeating: "b", count: 32), id: 2)
        let first = "8f1c2d3e-0000-4a5b-9c6d-7e8f90a1b2c3"
        let second = "8f1c2d3e-0000-4a5b-9c6d-7e8f90a1b2c4"
        var script = Script()
        for (environment, request) in [(one, first), (two, second)] {
            script.add(
                request,
                .initStarted(
                    .init(environment: environment, version: "1", runtimeVersion: "x", pid: 7, createdAt: .now())))
            script.add(request, .initFinished(.init(environment: environment, durationMs: 40, result: .ready)))
            script.add(request, Self.resolved(nil, alias: nil, version: "1"))
            script.add(request, .invokeStarted(.init(environment: environment, version: "1", receivedAt: .now())))
            script.add(request, Self.finished(environment, version: "1", initMs: 40, durationMs: 5))
            script.add("", .freeze(.init(environment: environment, frozen: true)))
        }
        func check(_ expected: [String: Double], _ states: [String], _ comment: Comment) {
            metrics.receive(script.events)
            script.events = []
            let samples = Self.samples(metrics.exposition())
            for (state, count) in expected {
                #expect(samples[#"albatross_environments{function="shop",state="\#(state)"}"#] == count, comment)
            }
            #expect(metrics.status().environments.map(\.state) == states, comment)
        }
        check(["frozen": 2, "ready": 0, "busy": 0, "initializing": 0], ["frozen", "frozen"], "both idle and frozen")
        // An invoke placed on the first: thawed, and its invokeStarted says it runs.
        script.add("r3", Self.resolved(nil, alias: nil, version: "1"))
        script.add("r3", .invokeStarted(.init(environment: one, version: "1", receivedAt: .now())))
        check(["frozen": 1, "busy": 1, "ready": 0], ["busy", "frozen"], "thawed for an invoke")
        script.add("r3", Self.finished(one, version: "1", durationMs: 5))
        check(["frozen": 1, "busy": 0, "ready": 1], ["ready", "frozen"], "idle again, not frozen yet")
        script.add("", .freeze(.init(environment: one, frozen: true)))
        // A thaw that no invoke follows (the invoke placed on it waits for its next /next).
        script.add("", .freeze(.init(environment: two, frozen: false)))
        check(["frozen": 1, "busy": 0, "ready": 1], ["frozen", "ready"], "frozen again; the other thawed")
        script.add("", .environmentStopped(.init(environment: one, reason: .idle)))
        check(["frozen": 0, "ready": 1], ["ready"], "a frozen environment that stops is no longer counted")
        #expect(metrics.status().totals.first?.invocations == 3)
    }

    @Test func aServiceErrorIsAnInternalErrorAndNoInvocation() {
        let metrics = InvocationMetrics()
        var script = Script()
        script.add("r1", Self.received("live"))
        script.add("r1", Self.written(502, 110, "LambdaServiceException"))
        script.add("r2", Self.received("gone"))
        script.add("r2", Self.written(502, 110, "LambdaResourceNotFound"))
        metrics.receive(script.events)
        let s = Self.samples(metrics.exposition())
        #expect(s[#"albatross_alb_lambda_internal_errors_total{listener="HTTP:8080",target_group="live"}"#] == 1)
        #expect(s[#"albatross_alb_lambda_user_errors_total{listener="HTTP:8080",target_group="gone"}"#] == 1)
        #expect(s[#"albatross_alb_requests_total{listener="HTTP:8080",target_group="live"}"#] == 1)
        #expect(s.keys.contains { $0.hasPrefix("albatross_lambda_invocations_total") } == false)
    }

    /// Attached to a bus, the subscriber takes its events in batches up to ``InvocationMetrics/batchPause`` (a
    /// second) apart; a scrape first takes what is queued, so it counts every event emitted before it without a
    /// flush of the bus, and at once.
    @Test func aScrapeCountsWhatWasEmittedJustBefore() {
        let bus = InvocationEventBus()
        let metrics = InvocationMetrics()
        let subscription = metrics.attach(to: bus)
        defer { bus.unsubscribe(subscription) }
        #expect(InvocationMetrics.batchPause >= 0.5, "the pause this test is about")
        let stream = Self.stream("shop", "1", id: 1)
        let name = #"albatross_lambda_invocations_total{function="shop",resource="shop:live",executed_version="1"}"#
        for round in 1...3 {
            var script = Script()
            script.add("r\(round)", Self.resolved("live", alias: "live", version: "1"))
            script.add("r\(round)", Self.finished(stream, version: "1", durationMs: 4))
            for event in script.events { bus.emit(event) }
            let started = ContinuousClock.now
            let samples = Self.samples(metrics.exposition())
            #expect(samples[name] == Double(round), "round \(round)")
            #expect(ContinuousClock.now - started < .milliseconds(500), "without waiting for the pause")
        }
    }

    /// An environment that stops in the middle of an invoke (a shutdown) no longer counts as a concurrent
    /// execution, though its `invokeFinished` never comes.
    @Test func anEnvironmentStoppedWhileBusyIsNoLongerConcurrent() {
        let metrics = InvocationMetrics()
        let stream = Self.stream("shop", "1", id: 1)
        var script = Script()
        let started = InvocationEvent.InitStarted(
            environment: stream, version: "1", runtimeVersion: "x", pid: nil, createdAt: .now())
        script.add("r1", .initStarted(started))
        script.add("r1", .initFinished(.init(environment: stream, durationMs: 5, result: .ready)))
        script.add("r1", Self.resolved("live", alias: "live", version: "1"))
        script.add("r1", .invokeStarted(.init(environment: stream, version: "1", receivedAt: .now())))
        metrics.receive(script.events)
        let name = #"albatross_lambda_concurrent_executions{function="shop",resource="shop:live",executed_version="1"}"#
        #expect(Self.samples(metrics.exposition())[name] == 1)
        script.events = []
        script.add("", .environmentStopped(.init(environment: stream, reason: .shutdown)))
        metrics.receive(script.events)
        #expect(Self.samples(metrics.exposition())[name] == 0)
    }

    /// Two subscribers in one process keep their own series.
    @Test func registriesAreIsolated() {
        let a = InvocationMetrics()
        let b = InvocationMetrics()
        var script = Script()
        script.add("r1", Self.resolved("1", alias: nil, version: "1"))
        script.add(
            "r1", .placed(.init(function: "shop", version: "1", placement: .throttled(reason: "x"), environment: nil)))
        a.receive(script.events)
        #expect(
            Self.samples(a.exposition())[
                #"albatross_lambda_throttles_total{function="shop",resource="shop:1",executed_version="1"}"#] == 1)
        #expect(!b.exposition().contains("albatross_lambda_throttles_total"))
    }

    @Test func provisionedInvocationsSpilloverAndUtilization() {
        let metrics = InvocationMetrics()
        var script = Script()
        let p1 = Self.stream("pc", "1", id: 1)
        let p2 = Self.stream("pc", "1", id: 2)
        let od = Self.stream("pc", "1", id: 3)
        for (stream, type) in [
            (p1, InvocationEvent.InitializationType.provisionedConcurrency), (p2, .provisionedConcurrency),
        ] {
            script.add(
                "",
                .initStarted(
                    .init(
                        environment: stream, version: "1", runtimeVersion: "x", pid: nil, createdAt: script.clock,
                        initializationType: type)))
            script.add("", .initFinished(.init(environment: stream, durationMs: 5, result: .ready)))
        }
        // r1 on p1 and r2 on p2 at once, r3 spills over to an on-demand environment.
        script.add("r1", .resolved(.init(function: "pc", qualifier: "1", alias: nil, executedVersion: "1")))
        script.add(
            "r1", .invokeStarted(.init(environment: p1, version: "1", receivedAt: .now(), capacity: .provisioned)))
        script.add("r2", .resolved(.init(function: "pc", qualifier: "1", alias: nil, executedVersion: "1")))
        script.add(
            "r2", .invokeStarted(.init(environment: p2, version: "1", receivedAt: .now(), capacity: .provisioned)))
        metrics.receive(script.events)
        var busy = Self.samples(metrics.exposition())
        let versionLabels = #"{function="pc",executed_version="1"}"#
        #expect(busy["albatross_lambda_provisioned_concurrent_executions\(versionLabels)"] == 2)
        #expect(busy["albatross_lambda_provisioned_concurrency_utilization\(versionLabels)"] == 1)
        script.events = []
        script.add("r3", .resolved(.init(function: "pc", qualifier: "1", alias: nil, executedVersion: "1")))
        script.add(
            "",
            .initStarted(.init(environment: od, version: "1", runtimeVersion: "x", pid: nil, createdAt: script.clock)))
        script.add("r3", .invokeStarted(.init(environment: od, version: "1", receivedAt: .now(), capacity: .spillover)))
        for (id, stream, capacity) in [
            ("r1", p1, InvocationEvent.Capacity.provisioned), ("r2", p2, .provisioned), ("r3", od, .spillover),
        ] {
            guard case .invokeFinished(var finished) = Self.finished(stream, version: "1", durationMs: 3) else {
                continue
            }
            finished.capacity = capacity
            script.add(id, .invokeFinished(finished))
        }
        metrics.receive(script.events)
        busy = Self.samples(metrics.exposition())
        let labels = #"{function="pc",resource="pc:1",executed_version="1"}"#
        #expect(busy["albatross_lambda_provisioned_concurrency_invocations_total\(labels)"] == 2)
        #expect(busy["albatross_lambda_provisioned_concurrency_spillover_invocations_total\(labels)"] == 1)
        #expect(busy["albatross_lambda_invocations_total\(labels)"] == 3)
        #expect(busy["albatross_lambda_provisioned_concurrent_executions\(versionLabels)"] == 0)
        #expect(busy["albatross_lambda_provisioned_concurrency_utilization\(versionLabels)"] == 0)
    }
}
