import AlbatrossTestKit
import Foundation
import Invocation
import InvocationModel
import LambdaModel
import NIOCore
import Testing

/// INIT's limit and its re-run inside the first invoke (AWS's suppressed init), and the maximum environment
/// lifetime, with real bash runtimes and a short INIT limit.
@Suite(.serialized)
struct LifecycleLimitTests {
    static func function(
        _ name: String, at path: String, timeout: Int = 3, environment: [EnvironmentVariable] = []
    ) -> FunctionConfiguration {
        FunctionConfiguration(
            name: name, runtime: Runtime(identifier: "provided.al2023")!, handler: "handler", code: .directory(path),
            memorySize: 128, timeout: timeout, environment: environment, maximumConcurrency: 10)
    }

    /// INIT that misbehaves the first time only (`first`: a shell command), using a marker file.
    static func onceThen(_ first: String) -> String {
        #"if [ ! -e "$MARK" ]; then touch "$MARK"; \#(first); fi"#
    }

    @Test func anInitThatOverrunsItsLimitRunsAgainInsideTheFirstInvoke() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let code = try TestFunctions.writeBash(
            in: dir, name: "late", handler: #"printf '"pid=%s"' "$$""#, initScript: Self.onceThen("sleep 30"))
        let marker = dir.url("late.mark")
        let harness = try InvokerHarness(
            functions: [Self.function("late", at: code, environment: [.init(name: "MARK", value: marker)])],
            dataDirectory: dir.url("data")
        ) { $0.environments.initTimeoutSeconds = 1 }
        let started = NIODeadline.now()
        let outcome = try await harness.invoke("late", wantsReport: true)
        let elapsed = NIODeadline.now() - started
        let warm = try await harness.invoke("late")
        try await harness.shutdown()

        #expect(outcome.functionError == nil, "\(outcome.text)")
        // Well under the 30 s the first INIT sleeps: the re-run did not wait for it (a loaded machine adds seconds).
        #expect(elapsed >= .milliseconds(1000) && elapsed < .seconds(20), "\(elapsed)")
        #expect(outcome.initDurationMs == nil, "suppressed init: no Init Duration")
        #expect(warm.text == outcome.text, "the re-run's runtime serves the next invoke")
        let lines = harness.logLines(functionName: "late", streamName: outcome.logStreamName)
        let initStarts = lines.filter { $0.hasPrefix("INIT_START Runtime Version: ") }
        #expect(initStarts.count == 2, "the first INIT and its re-run, in one stream: \(lines)")
        let report = try #require(lines.first { $0.hasPrefix("INIT_REPORT ") }, "\(lines)")
        #expect(
            report.wholeMatch(of: #/INIT_REPORT Init Duration: 10\d\d\.\d\d ms\tPhase: init\tStatus: timeout/#) != nil,
            "\(report)")
        let reportLine = try #require(lines.first { $0.hasPrefix("REPORT RequestId: \(outcome.requestID)") })
        #expect(!reportLine.contains("Init Duration"), "\(reportLine)")
        let initReport = try #require(lines.firstIndex(of: report))
        let secondStart = try #require(lines.lastIndex { $0.hasPrefix("INIT_START") })
        #expect(initReport < secondStart)
    }

    @Test func aRuntimeThatNeverAsksForAnEventHitsTheInitTimeoutTwiceAndTheInvokeTimesOut() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let code = try TestFunctions.writeBash(
            in: dir, name: "stuck", handler: #"printf '"never"'"#, initScript: "sleep 60")
        let harness = try InvokerHarness(
            functions: [Self.function("stuck", at: code, timeout: 1)], dataDirectory: dir.url("data")
        ) { $0.environments.initTimeoutSeconds = 1 }
        let recorder = EventRecorder()
        harness.events.subscribe(recorder, name: "test")
        let started = NIODeadline.now()
        let outcome = try await harness.invoke("stuck")
        let elapsed = NIODeadline.now() - started
        try await harness.shutdown()
        await harness.events.flush()

        #expect(outcome.errorType == "Sandbox.Timedout", "\(outcome.text)")
        // 1 s of INIT, then the re-run under the 1 s function timeout: about 2 s, never the runtime's 60 s.
        #expect(elapsed >= .milliseconds(1900) && elapsed < .seconds(8), "\(elapsed)")
        let lines = harness.logLines(functionName: "stuck", streamName: outcome.logStreamName)
        let reports = lines.filter { $0.hasPrefix("INIT_REPORT ") }
        #expect(reports.count == 2, "\(lines)")
        #expect(reports.first?.hasSuffix("\tPhase: init\tStatus: timeout") == true, "\(reports)")
        #expect(reports.last?.hasSuffix("\tPhase: invoke\tStatus: timeout") == true, "\(reports)")
        #expect(lines.contains { $0.hasSuffix("Task timed out after 1.00 seconds") }, "\(lines)")
        let pids = recorder.events.compactMap { event -> Int32? in
            if case .initStarted(let started) = event.detail { return started.pid }
            return nil
        }
        #expect(pids.count == 2)
        for pid in pids { #expect(!ProcessTree.exists(pid), "every runtime is gone") }
    }

    @Test func aFailedInitRunsAgainAndItsSecondFailureIsTheInvokesError() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let flaky = try TestFunctions.writeBash(
            in: dir, name: "flaky", handler: #"printf '"ok"'"#, initScript: Self.onceThen("exit 4"))
        let broken = try TestFunctions.writeBash(
            in: dir, name: "broken", handler: #"printf '"no"'"#, initScript: "exit 5")
        let harness = try InvokerHarness(
            functions: [
                Self.function("flaky", at: flaky, environment: [.init(name: "MARK", value: dir.url("flaky.mark"))]),
                Self.function("broken", at: broken),
            ], dataDirectory: dir.url("data"))
        let recovered = try await harness.invoke("flaky")
        let failed = try await harness.invoke("broken")
        try await harness.shutdown()

        #expect(recovered.text == #""ok""#, "the re-run succeeded")
        #expect(recovered.initDurationMs == nil)
        let flakyLines = harness.logLines(functionName: "flaky", streamName: recovered.logStreamName)
        #expect(
            flakyLines.contains {
                $0.hasPrefix("INIT_REPORT ")
                    && $0.hasSuffix("\tPhase: init\tStatus: error\tError Type: Runtime.ExitError")
            }, "\(flakyLines)")

        #expect(failed.errorType == "Runtime.ExitError", "\(failed.text)")
        #expect(failed.text.contains("exit status 5"))
        let brokenLines = harness.logLines(functionName: "broken", streamName: failed.logStreamName)
        let reports = brokenLines.filter { $0.hasPrefix("INIT_REPORT ") }
        #expect(reports.count == 2, "\(brokenLines)")
        #expect(reports.last?.contains("\tPhase: invoke\tStatus: error\tError Type: Runtime.ExitError") == true)
    }

    @Test func environmentsPastTheirMaximumLifetimeAreReplaced() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let code = try TestFunctions.writeBash(in: dir, name: "aging", handler: #"printf '"pid=%s"' "$$""#)
        let harness = try InvokerHarness(
            functions: [Self.function("aging", at: code)], dataDirectory: dir.url("data")
        ) { $0.environments.maximumLifetimeSeconds = 1 }
        let recorder = EventRecorder()
        harness.events.subscribe(recorder, name: "test")
        let first = try await harness.invoke("aging")
        try await Task.sleep(for: .milliseconds(1600))
        let second = try await harness.invoke("aging")
        try await harness.shutdown()
        await harness.events.flush()
        #expect(first.isColdStart && second.isColdStart, "the old environment was stopped at its lifetime")
        #expect(first.text != second.text)
        let reasons = recorder.events.compactMap { event -> InvocationEvent.EnvironmentStopped.Reason? in
            if case .environmentStopped(let stopped) = event.detail { return stopped.reason }
            return nil
        }
        #expect(reasons.first == .lifetime, "\(reasons)")
    }

    @Test func shutdownSendsSIGTERMThenSIGKILLAfterTheGrace() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // `trap '' TERM` is inherited by curl too: the whole group ignores SIGTERM and only SIGKILL ends it.
        let stubborn = try TestFunctions.writeBash(
            in: dir, name: "stubborn", handler: #"printf '"pid=%s"' "$$""#, initScript: "trap '' TERM")
        let polite = try TestFunctions.writeBash(in: dir, name: "polite", handler: #"printf '"pid=%s"' "$$""#)
        for (name, code, ignoresTerm) in [("stubborn", stubborn, true), ("polite", polite, false)] {
            let harness = try InvokerHarness(
                functions: [Self.function(name, at: code)], dataDirectory: dir.url("data-\(name)")
            ) { $0.environments.terminationGraceSeconds = 1.5 }
            let outcome = try await harness.invoke(name)
            let pid = try #require(Int32(outcome.text.drop { !$0.isNumber }.prefix { $0.isNumber }))
            let started = NIODeadline.now()
            try await harness.shutdown()
            let elapsed = NIODeadline.now() - started
            #expect(!ProcessTree.exists(pid), "\(name): the runtime is gone after shutdown")
            if ignoresTerm {
                #expect(elapsed >= .milliseconds(1400) && elapsed < .seconds(6), "SIGKILL after the grace: \(elapsed)")
            } else {
                #expect(elapsed < .milliseconds(1400), "a runtime that ends on SIGTERM is not waited for: \(elapsed)")
            }
        }
    }
}
