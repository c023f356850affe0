import AlbatrossTestKit
import Foundation
import Invocation
import InvocationModel
import LambdaModel
import NIOCore
import Testing

/// Reserved concurrency, the account's pool and provisioned concurrency, with real bash runtimes.
@Suite(.serialized)
struct ConcurrencyControlTests {
    static func function(
        _ name: String, at path: String, timeout: Int = 5, concurrency: Int = 10
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

    /// `count` invokes at once; the results in no particular order.
    static func burst(
        _ harness: InvokerHarness, _ name: String, qualifier: String? = nil, count: Int
    ) async -> [Result<InvocationOutcome, any Error>] {
        await withTaskGroup(of: Result<InvocationOutcome, any Error>.self) { group in
            for _ in 0..<count {
                group.addTask { await Self.result { try await harness.invoke(name, qualifier: qualifier) } }
            }
            var results: [Result<InvocationOutcome, any Error>] = []
            for await result in group { results.append(result) }
            return results
        }
    }

    static func throttleReasons(_ results: [Result<InvocationOutcome, any Error>]) -> [String] {
        results.compactMap { result in
            guard case .failure(let error as InvocationError) = result, error.kind == .throttled else { return nil }
            return error.reason ?? "nil"
        }
    }

    static func successes(_ results: [Result<InvocationOutcome, any Error>]) -> [InvocationOutcome] {
        results.compactMap { try? $0.get() }.filter { $0.functionError == nil }
    }

    /// Waits (bounded) until `condition` holds.
    static func eventually(seconds: Double = 10, _ condition: () -> Bool) async throws -> Bool {
        let deadline = NIODeadline.now() + .milliseconds(Int64(seconds * 1000))
        while NIODeadline.now() < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }

    @Test func reservedZeroThrottlesEveryInvokeWithItsReason() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let code = try TestFunctions.writeBash(in: dir, name: "off", handler: #"printf '"ran"'"#)
        let other = try TestFunctions.writeBash(in: dir, name: "other", handler: #"printf '"ran"'"#)
        let harness = try InvokerHarness(
            functions: [Self.function("off", at: code), Self.function("other", at: other)],
            dataDirectory: dir.url("data")
        ) { $0.concurrency = ["off": FunctionConcurrency(reserved: 0)] }
        let recorder = EventRecorder()
        harness.events.subscribe(recorder, name: "test")
        let results = await Self.burst(harness, "off", count: 3)
        let ran = try await harness.invoke("other")
        try await harness.shutdown()
        await harness.events.flush()

        #expect(
            Self.throttleReasons(results)
                == Array(repeating: "ReservedFunctionConcurrentInvocationLimitExceeded", count: 3))
        if case .failure(let error as InvocationError) = results[0] {
            #expect(error.awsStatus == 429 && error.awsErrorType == "TooManyRequestsException")
            #expect(error.albErrorReason == "LambdaThrottling")
            #expect(error.isRetrySafe)
        }
        #expect(ran.text == #""ran""#)
        let throttled = recorder.events.compactMap { event -> String? in
            guard case .placed(let placed) = event.detail, case .throttled(let reason) = placed.placement else {
                return nil
            }
            return reason
        }
        #expect(throttled == Array(repeating: "ReservedFunctionConcurrentInvocationLimitExceeded", count: 3))
        let offStarted = recorder.events.contains { event in
            if case .initStarted(let started) = event.detail { return started.environment.functionName == "off" }
            return false
        }
        #expect(!offStarted, "no environment was started for a function with reserved concurrency 0")
        #expect(harness.invoker.pool(for: "off")?.counts.total == 0, "no environment was started for it")
    }

    @Test func aBurstAboveTheAccountLimitIsThrottledAndReservedFunctionsKeepTheirShare() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let slow = try TestFunctions.writeBash(in: dir, name: "slow", handler: #"sleep 1; printf '"slow"'"#)
        let kept = try TestFunctions.writeBash(in: dir, name: "kept", handler: #"sleep 1; printf '"kept"'"#)
        let harness = try InvokerHarness(
            functions: [Self.function("slow", at: slow), Self.function("kept", at: kept)],
            dataDirectory: dir.url("data")
        ) { configuration in
            configuration.environments.accountConcurrency = AccountConcurrency(limit: 5, minimumUnreserved: 1)
            configuration.concurrency = ["kept": FunctionConcurrency(reserved: 2)]
        }
        let started = NIODeadline.now()
        async let unreserved = Self.burst(harness, "slow", count: 6)
        async let reserved = Self.burst(harness, "kept", count: 3)
        let (slowResults, keptResults) = await (unreserved, reserved)
        let elapsed = NIODeadline.now() - started
        let usage = harness.invoker.limiter.usage
        try await harness.shutdown()

        // 5 - 2 reserved = 3 unreserved executions for `slow`; `kept` has its own 2.
        #expect(Self.successes(slowResults).count == 3)
        #expect(Self.throttleReasons(slowResults) == Array(repeating: "ConcurrentInvocationLimitExceeded", count: 3))
        #expect(Self.successes(keptResults).count == 2)
        #expect(Self.throttleReasons(keptResults) == ["ReservedFunctionConcurrentInvocationLimitExceeded"])
        #expect(elapsed < .seconds(10), "throttles answer at once, never a hang")
        #expect(usage.unreserved == 0 && usage.byFunction.isEmpty, "every execution was given back: \(usage)")
    }

    @Test func maximumConcurrencyThrottlesAsTheFunctionsReservationWould() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let slow = try TestFunctions.writeBash(in: dir, name: "one", handler: #"sleep 1; printf '"one"'"#)
        let harness = try InvokerHarness(
            functions: [Self.function("one", at: slow, concurrency: 1)], dataDirectory: dir.url("data"))
        let results = await Self.burst(harness, "one", count: 3)
        try await harness.shutdown()
        #expect(Self.successes(results).count == 1)
        #expect(
            Self.throttleReasons(results)
                == Array(repeating: "ReservedFunctionConcurrentInvocationLimitExceeded", count: 2))
    }

    /// The harness's `$LATEST` of `name` published as version 1 with `provisioned` environments.
    static func provision(_ harness: InvokerHarness, _ name: String, _ provisioned: Int, reserved: Int? = nil) {
        var catalog = harness.invoker.catalog
        var version = catalog.functions[name]!.versions["$LATEST"]!
        version.version = "1"
        catalog.functions[name]!.versions["1"] = version
        catalog.functions[name]!.concurrency = FunctionConcurrency(reserved: reserved, provisioned: ["1": provisioned])
        harness.invoker.replaceCatalog(catalog)
    }

    /// Idle reaping stops on-demand environments and keeps provisioned ones (AWS keeps provisioned concurrency
    /// initialised for as long as it is configured): after the idle timeout the spill-over environment is gone and
    /// the provisioned one still answers, the same process.
    @Test func idleReapingKeepsProvisionedEnvironments() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let code = try TestFunctions.writeBash(
            in: dir, name: "kept",
            handler: #"sleep 0.3; printf '"pid=%s type=%s"' "$$" "$AWS_LAMBDA_INITIALIZATION_TYPE""#)
        let harness = try InvokerHarness(
            functions: [Self.function("kept", at: code)], dataDirectory: dir.url("data"),
            idleTimeout: .milliseconds(500))
        Self.provision(harness, "kept", 1)
        let pool = try #require(harness.invoker.pool(for: "kept", version: "1"))
        #expect(try await Self.eventually { pool.provisionedCounts.available == 1 }, "\(pool.provisionedCounts)")
        let texts = Self.successes(await Self.burst(harness, "kept", qualifier: "1", count: 2)).map(\.text)
        let provisioned = texts.filter { $0.contains("type=provisioned-concurrency") }
        #expect(provisioned.count == 1 && texts.filter { $0.contains("type=on-demand") }.count == 1, "\(texts)")
        let provisionedPID = provisioned.first.flatMap { $0.split(separator: " ").first }
        // Well past the idle timeout: the on-demand one is reaped (its runtime gone; it may already be, on a loaded
        // machine, by the time the burst's slower answer came), the provisioned one is not.
        let onDemandPID = texts.first { $0.contains("type=on-demand") }.flatMap {
            $0.split(separator: " ").first.flatMap { Int32($0.drop { !$0.isNumber }) }
        }
        #expect(try await Self.eventually { pool.counts.total == 1 }, "\(pool.counts)")
        let reaped = try #require(onDemandPID, "\(texts)")
        #expect(try await Self.eventually { !ProcessTree.exists(reaped) }, "the on-demand runtime \(reaped) ended")
        try await Task.sleep(for: .seconds(1.5))
        #expect(
            pool.counts.total == 1 && pool.provisionedCounts.available == 1, "\(pool.counts) \(pool.provisionedCounts)")
        let again = try await harness.invoke("kept", qualifier: "1")
        #expect(again.text.contains("type=provisioned-concurrency"), "\(again.text)")
        #expect(again.text.split(separator: " ").first == provisionedPID, "the same environment: \(again.text)")
        #expect(!again.isColdStart)
        try await harness.shutdown()
    }

    @Test func provisionedEnvironmentsAreReadyBeforeTheFirstInvokeAndSpillOverOnDemand() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let code = try TestFunctions.writeBash(
            in: dir, name: "pc",
            handler: #"sleep 0.5; printf '"pid=%s type=%s"' "$$" "$AWS_LAMBDA_INITIALIZATION_TYPE""#)
        let harness = try InvokerHarness(functions: [Self.function("pc", at: code)], dataDirectory: dir.url("data"))
        let recorder = EventRecorder()
        harness.events.subscribe(recorder, name: "test")
        Self.provision(harness, "pc", 2)
        let pool = try #require(harness.invoker.pool(for: "pc", version: "1"))
        #expect(try await Self.eventually { pool.provisionedCounts.available == 2 }, "\(pool.provisionedCounts)")
        #expect(harness.invoker.limiter.usage.byFunction["pc"] == 2, "provisioned environments hold their executions")

        let first = try await harness.invoke("pc", qualifier: "1", wantsReport: true)
        #expect(first.text.contains("type=provisioned-concurrency"), "\(first.text)")
        #expect(first.initDurationMs == nil)
        #expect(first.reportLine?.contains("Init Duration") == false, "\(first.reportLine ?? "")")
        // Three at once: both provisioned environments, and one on demand (spill-over).
        let results = await Self.burst(harness, "pc", qualifier: "1", count: 3)
        let texts = Self.successes(results).map(\.text)
        #expect(texts.count == 3)
        #expect(texts.filter { $0.contains("type=provisioned-concurrency") }.count == 2, "\(texts)")
        #expect(texts.filter { $0.contains("type=on-demand") }.count == 1, "\(texts)")
        // $LATEST is never provisioned.
        let latest = try await harness.invoke("pc")
        #expect(latest.text.contains("type=on-demand"))
        try await harness.shutdown()
        await harness.events.flush()

        let capacities = recorder.events.compactMap { event -> InvocationEvent.Capacity? in
            guard case .invokeFinished(let finished) = event.detail, finished.version == "1" else { return nil }
            return finished.capacity
        }
        #expect(capacities.filter { $0 == .provisioned }.count == 3)
        #expect(capacities.filter { $0 == .spillover }.count == 1)
        let provisionedInits = recorder.events.filter { event in
            if case .initStarted(let started) = event.detail {
                return started.initializationType == .provisionedConcurrency
            }
            return false
        }
        #expect(provisionedInits.count == 2)
    }

    @Test func aKilledProvisionedEnvironmentIsReplaced() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let code = try TestFunctions.writeBash(in: dir, name: "pk", handler: #"printf '"pid=%s"' "$$""#)
        // Not frozen while idle: the kernel holds a SIGKILL sent to a frozen runtime until it is thawed, and this
        // test is about a runtime that dies when it is killed.
        let harness = try InvokerHarness(
            functions: [Self.function("pk", at: code)], dataDirectory: dir.url("data"), freezeIdle: false)
        let recorder = EventRecorder()
        harness.events.subscribe(recorder, name: "test")
        Self.provision(harness, "pk", 1, reserved: 1)
        let pool = try #require(harness.invoker.pool(for: "pk", version: "1"))
        #expect(try await Self.eventually { pool.provisionedCounts.available == 1 })
        let before = try await harness.invoke("pk", qualifier: "1")
        let pid = try #require(Int32(before.text.drop { !$0.isNumber }.prefix { $0.isNumber }))
        kill(pid, SIGKILL)
        #expect(try await Self.eventually { !ProcessTree.exists(pid) })
        // The replacement is a second provisioned INIT; once it is ready, it is the one available.
        #expect(
            try await Self.eventually(seconds: 30) {
                let replaced = recorder.events.contains { event in
                    if case .environmentStopped = event.detail { return true }
                    return false
                }
                return replaced && pool.provisionedCounts.available == 1 && pool.provisionedCounts.allocated == 1
            })
        let after = try await harness.invoke("pk", qualifier: "1")
        #expect(after.initDurationMs == nil, "the replacement was initialised ahead of the invoke")
        #expect(after.text != before.text, "a new runtime: \(after.text)")
        try await harness.shutdown()
        await harness.events.flush()
        let provisionedInits = recorder.events.filter { event in
            if case .initStarted(let started) = event.detail {
                return started.initializationType == .provisionedConcurrency
            }
            return false
        }
        #expect(provisionedInits.count == 2)
    }
}
