import AlbatrossTestKit
import Foundation
import Invocation
import InvocationModel
import LambdaModel
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// Records every event it is handed, in order: all kinds but the runtime's `/next` after an invoke (the
/// Overhead end of traces, tested with them), which would interleave the sequences checked here.
final class EventRecorder: InvocationEventSubscriber {
    let interests: InvocationEvent.Kinds = InvocationEvent.Kinds.all.subtracting(.runtimeNext)
    private let recorded = NIOLockedValueBox<[InvocationEvent]>([])

    func receive(_ events: [InvocationEvent]) {
        recorded.withLockedValue { $0.append(contentsOf: events) }
    }

    var events: [InvocationEvent] { recorded.withLockedValue { $0 } }

    /// The kinds of the events of one invocation, in order, with their details.
    func events(of requestID: String) -> [InvocationEvent] { events.filter { $0.requestID == requestID } }

    /// The events of one environment (by its log stream), in order.
    func events(ofEnvironment stream: String) -> [InvocationEvent] {
        events.filter { event in
            switch event.detail {
            case .initStarted(let e): return e.environment.streamName == stream
            case .initFinished(let e): return e.environment.streamName == stream
            case .invokeStarted(let e): return e.environment.streamName == stream
            case .invokeFinished(let e): return e.environment.streamName == stream
            case .environmentStopped(let e): return e.environment.streamName == stream
            case .output(let e): return e.environment.streamName == stream
            case .placed(let e): return e.environment?.streamName == stream
            case .runtimeNext(let e): return e.environment.streamName == stream
            case .freeze(let e): return e.environment.streamName == stream
            case .received, .resolved, .responseWritten, .async: return false
            }
        }
    }
}

extension InvocationEvent {
    var kindName: String {
        switch detail {
        case .received: return "received"
        case .resolved: return "resolved"
        case .placed(let placed):
            switch placed.placement {
            case .warm: return "placed(warm)"
            case .queued: return "placed(queued)"
            case .coldStart: return "placed(coldStart)"
            case .throttled: return "placed(throttled)"
            }
        case .initStarted: return "initStarted"
        case .initFinished: return "initFinished"
        case .invokeStarted: return "invokeStarted"
        case .invokeFinished: return "invokeFinished"
        case .responseWritten: return "responseWritten"
        case .environmentStopped: return "environmentStopped"
        case .output: return "output"
        case .runtimeNext: return "runtimeNext"
        case .async: return "async"
        case .freeze(let freeze): return freeze.frozen ? "frozen" : "thawed"
        }
    }

    var finished: InvokeFinished? {
        if case .invokeFinished(let finished) = detail { return finished }
        return nil
    }
}

/// The invocation event stream, from real environments running real bash runtimes.
@Suite(.serialized)
struct InvocationEventStreamTests {
    static func function(
        _ name: String, at path: String, timeout: Int = 3, concurrency: Int = 10
    )
        -> FunctionConfiguration
    {
        FunctionConfiguration(
            name: name, runtime: Runtime(identifier: "provided.al2023")!, handler: "handler", code: .directory(path),
            memorySize: 128, timeout: timeout, environment: [], maximumConcurrency: concurrency)
    }

    static func result(_ body: () async throws -> InvocationOutcome) async -> Result<InvocationOutcome, any Error> {
        do { return .success(try await body()) } catch { return .failure(error) }
    }

    @Test func coldWarmThrottleTimeoutAndCrashInOrderWithPlausibleDurations() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let echo = try TestFunctions.writeBash(in: dir, name: "echo", handler: #"printf '"ok"'"#)
        let slow = try TestFunctions.writeBash(in: dir, name: "slow", handler: #"sleep 0.5; printf '"slow"'"#)
        let sleepy = try TestFunctions.writeBash(in: dir, name: "sleepy", handler: #"sleep 5; printf '"late"'"#)
        let crash = try TestFunctions.writeBash(in: dir, name: "crash", handler: "exit 3")
        let harness = try InvokerHarness(
            functions: [
                Self.function("echo", at: echo), Self.function("slow", at: slow, concurrency: 1),
                Self.function("sleepy", at: sleepy, timeout: 1), Self.function("crash", at: crash),
            ], dataDirectory: dir.url("data"))
        let recorder = EventRecorder()
        let subscription = harness.events.subscribe(recorder, name: "test")

        let started = NIODeadline.now()
        let cold = try await harness.invoke("echo")
        let warm = try await harness.invoke("echo")
        // Two at once on a function limited to one environment: one of them is throttled.
        async let first = Self.result { try await harness.invoke("slow") }
        async let second = Self.result { try await harness.invoke("slow") }
        let slowResults = await [first, second]
        let timedOut = try await harness.invoke("sleepy")
        let crashed = try await harness.invoke("crash")
        let elapsedMs = Double((NIODeadline.now() - started).nanoseconds) / 1e6
        try await harness.shutdown()
        await harness.events.flush()
        harness.events.unsubscribe(subscription)

        // Cold start: placed, INIT, invoke, in that order, on the environment the outcome names.
        #expect(
            recorder.events(of: cold.requestID).map(\.kindName) == [
                "resolved", "placed(coldStart)", "invokeStarted", "invokeFinished",
            ])
        let environment = recorder.events(ofEnvironment: cold.logStreamName).map(\.kindName)
        #expect(Array(environment.prefix(3)) == ["initStarted", "initFinished", "invokeStarted"])
        #expect(environment.last == "environmentStopped")
        // Idle after an invoke, it was frozen (`freezeIdle`).
        let frozenAt = try #require(environment.firstIndex(of: "frozen"), "\(environment)")
        #expect(environment[..<frozenAt].last == "invokeFinished", "\(environment)")
        #expect(!environment.contains("thawed"), "an invoke's thaw is its invokeStarted: \(environment)")
        let coldFinished = try #require(recorder.events(of: cold.requestID).compactMap(\.finished).first)
        let initMs = try #require(coldFinished.initDurationMs)
        #expect(initMs > 0 && initMs < elapsedMs)
        #expect(coldFinished.durationMs >= 0 && coldFinished.durationMs < elapsedMs)
        #expect(coldFinished.overheadMs >= 0 && coldFinished.overheadMs < elapsedMs)
        #expect(coldFinished.billedDurationMs >= Int((coldFinished.durationMs + initMs).rounded(.down)))
        #expect(coldFinished.status == nil && coldFinished.errorType == nil)

        // Warm: the same environment, no INIT; parked in /next (warm) or about to ask again (queued).
        let warmKinds = recorder.events(of: warm.requestID).map(\.kindName)
        #expect(
            warmKinds == ["resolved", "placed(warm)", "invokeStarted", "invokeFinished"]
                || warmKinds == ["resolved", "placed(queued)", "invokeStarted", "invokeFinished"], "\(warmKinds)")
        #expect(warm.logStreamName == cold.logStreamName)
        #expect(recorder.events(of: warm.requestID).compactMap(\.finished).first?.initDurationMs == nil)

        // Throttle: one succeeded, the other failed with the throttle, and the stream says why.
        let throttles = slowResults.compactMap { result -> InvocationError? in
            if case .failure(let error as InvocationError) = result { return error }
            return nil
        }
        #expect(throttles.count == 1)
        #expect(throttles.first?.kind == .throttled)
        #expect(throttles.first?.albErrorReason == "LambdaThrottling")
        #expect(throttles.first?.isRetrySafe == true)
        let throttled = recorder.events.filter { $0.kindName == "placed(throttled)" }
        #expect(throttled.count == 1)
        if case .placed(let placed)? = throttled.first?.detail {
            #expect(placed.function == "slow")
        }

        // Timeout: a finished event with the timeout status, then the environment stops with reason timeout.
        let timeout = try #require(recorder.events(of: timedOut.requestID).compactMap(\.finished).first)
        #expect(timeout.status == "timeout")
        #expect(timeout.errorType == "Sandbox.Timedout")
        #expect(timeout.durationMs >= 1000 && timeout.durationMs < 5000, "it ran for about the 1 s timeout")
        #expect(timedOut.albErrorReason == "LambdaUnhandled")
        let timeoutStop = recorder.events(ofEnvironment: timedOut.logStreamName).last
        if case .environmentStopped(let stopped)? = timeoutStop?.detail {
            #expect(stopped.reason == .timeout)
        } else {
            Issue.record("the timed-out environment's last event is not environmentStopped")
        }

        // Crash: Runtime.ExitError with the platform's message, then the environment stops as exited.
        let exit = try #require(recorder.events(of: crashed.requestID).compactMap(\.finished).first)
        #expect(exit.errorType == "Runtime.ExitError")
        #expect(exit.errorMessage?.contains("exit status 3") == true)
        if case .environmentStopped(let stopped)? = recorder.events(ofEnvironment: crashed.logStreamName).last?.detail {
            #expect(stopped.reason == .exited("exit status 3"))
        } else {
            Issue.record("the crashed environment's last event is not environmentStopped")
        }

        // Monotonic timestamps never go backwards within one environment.
        for stream in [cold.logStreamName, timedOut.logStreamName, crashed.logStreamName] {
            let times = recorder.events(ofEnvironment: stream).map(\.at)
            #expect(times == times.sorted(), "events of \(stream) are in time order")
        }
        #expect(subscription.droppedEvents == 0)
    }

    @Test func anInvokeInFlightFinishesOnItsCodeWhenTheConfigurationChanges() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let v1 = try TestFunctions.writeBash(
            in: dir, name: "v1", handler: #"sleep 1; printf '"v1 pid=%s"' "$$""#)
        let v2 = try TestFunctions.writeBash(in: dir, name: "v2", handler: #"printf '"v2 pid=%s"' "$$""#)
        let function = Self.function("app", at: v1)
        let harness = try InvokerHarness(functions: [function], dataDirectory: dir.url("data"))
        let recorder = EventRecorder()
        harness.events.subscribe(recorder, name: "test")
        let roots = harness.invoker.catalog.functions["app"]!.versions["$LATEST"]!
        // Warm one environment first, so that the change has an idle environment and a busy one to retire.
        _ = try await harness.invoke("app")
        async let inFlight = harness.invoke("app")
        async let second = harness.invoke("app")
        try await Task.sleep(for: .milliseconds(300))
        var changed = roots
        changed.configuration.code = .directory(v2)
        changed.taskRoot = v2
        harness.invoker.replaceCatalog(FunctionCatalog(functions: ["app": .init(versions: ["$LATEST": changed])]))
        let next = try await harness.invoke("app")
        let (old, alsoOld) = try await (inFlight, second)
        #expect(old.functionError == nil, "the in-flight invoke was not killed")
        #expect(old.text.hasPrefix(#""v1 pid="#))
        #expect(alsoOld.text.hasPrefix(#""v1 pid="#))
        #expect(next.text.hasPrefix(#""v2 pid="#), "the next invoke runs the new code")
        #expect(next.logStreamName != old.logStreamName)
        // The retired environments stop once their invokes are over, with reason retired.
        try await Task.sleep(for: .milliseconds(500))
        await harness.events.flush()
        for stream in Set([old.logStreamName, alsoOld.logStreamName]) {
            guard case .environmentStopped(let stopped)? = recorder.events(ofEnvironment: stream).last?.detail else {
                Issue.record("environment \(stream) of the old code did not stop")
                continue
            }
            #expect(stopped.reason == .retired)
        }
        try await harness.shutdown()
    }

    @Test func invokesRacingCatalogChangesAreNeverRefused() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let a = try TestFunctions.writeBash(in: dir, name: "a", handler: #"printf '"a"'"#)
        let b = try TestFunctions.writeBash(in: dir, name: "b", handler: #"printf '"b"'"#)
        let harness = try InvokerHarness(functions: [Self.function("app", at: a)], dataDirectory: dir.url("data"))
        let base = harness.invoker.catalog.functions["app"]!.versions["$LATEST"]!
        let outcomes = try await withThrowingTaskGroup(of: [String].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var texts: [String] = []
                    for _ in 0..<50 { texts.append(try await harness.invoke("app").text) }
                    return texts
                }
            }
            group.addTask {
                // Flip the code back and forth while the invokes run: every change retires the pool in use.
                for round in 0..<80 {
                    var version = base
                    version.taskRoot = round % 2 == 0 ? b : a
                    version.configuration.code = .directory(version.taskRoot)
                    harness.invoker.replaceCatalog(
                        FunctionCatalog(functions: ["app": .init(versions: ["$LATEST": version])]))
                    try await Task.sleep(for: .milliseconds(5))
                }
                return []
            }
            return try await group.reduce(into: [String]()) { $0 += $1 }
        }
        try await harness.shutdown()
        #expect(outcomes.count == 400, "every invoke got an outcome, none was refused as shutting down")
        #expect(outcomes.allSatisfy { $0 == #""a""# || $0 == #""b""# })
    }
}
