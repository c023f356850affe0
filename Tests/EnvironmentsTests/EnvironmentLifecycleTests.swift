import AlbatrossTestKit
import Configuration
import Environments
import Foundation
import Invocation
import InvocationModel
import LambdaModel
import NIOCore
import Testing

/// Real execution environments: bash and awslambdaric runtimes as child processes of the test.
@Suite(.serialized)
struct EnvironmentLifecycleTests {
    static func function(
        _ name: String, at path: String, runtime: String = "provided.al2023", handler: String = "handler",
        timeout: Int = 3, concurrency: Int = 10, environment: [EnvironmentVariable] = []
    ) -> FunctionConfiguration {
        FunctionConfiguration(
            name: name, runtime: Runtime(identifier: runtime)!, handler: handler, code: .directory(path),
            memorySize: 128, timeout: timeout, environment: environment, maximumConcurrency: concurrency)
    }

    static func pidOf(_ outcome: InvocationOutcome) -> Int32? {
        let text = outcome.text
        guard let range = text.range(of: "pid=") else { return nil }
        return Int32(text[range.upperBound...].prefix { $0.isNumber })
    }

    @Test func warmEnvironmentServesTheSecondRequest() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let code = try TestFunctions.writeBash(in: dir, name: "echo", handler: #"printf 'pid=%s event=%s' "$$" "$1""#)
        let harness = try InvokerHarness(functions: [Self.function("echo", at: code)], dataDirectory: dir.url("data"))
        let first = try await harness.invoke("echo", #"{"n":1}"#, wantsReport: true)
        let second = try await harness.invoke("echo", #"{"n":2}"#, wantsReport: true)
        #expect(first.functionError == nil)
        #expect(first.text.hasSuffix(#"event={"n":1}"#))
        #expect(second.text.hasSuffix(#"event={"n":2}"#))
        #expect(first.isColdStart)
        #expect(!second.isColdStart)
        #expect(first.logStreamName == second.logStreamName)
        #expect(Self.pidOf(first) == Self.pidOf(second))
        #expect(first.reportLine?.contains("Init Duration:") == true)
        #expect(second.reportLine?.contains("Init Duration:") == false)
        let pid = try #require(Self.pidOf(first))
        try await harness.shutdown()
        #expect(!ProcessTree.exists(pid), "the runtime process is gone after shutdown")
    }

    /// `environments.runtimeScheduling`: `batch` starts runtimes (and what they start) under SCHED_BATCH, policy 3
    /// in field 41 of `/proc/<pid>/stat`; the default leaves them under SCHED_OTHER (0).
    @Test(arguments: [(EnvironmentSettings.RuntimeScheduling.normal, "0"), (.batch, "3")])
    func runtimesRunUnderTheConfiguredSchedulingPolicy(
        scheduling: EnvironmentSettings.RuntimeScheduling, policy: String
    ) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let code = try TestFunctions.writeBash(
            in: dir, name: "policy",
            handler:
                #"printf 'runtime=%s child=%s' "$(cut -d' ' -f41 /proc/$$/stat)" "$(awk '{print $41}' /proc/self/stat)""#
        )
        let harness = try InvokerHarness(
            functions: [Self.function("policy", at: code)], dataDirectory: dir.url("data"),
            configure: { $0.environments.runtimeScheduling = scheduling })
        let outcome = try await harness.invoke("policy")
        try await harness.shutdown()
        #expect(outcome.text == "runtime=\(policy) child=\(policy)")
    }

    @Test func logStreamHasStartEndReportAroundTheFunctionOutput() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let code = try TestFunctions.writeBash(
            in: dir, name: "talker", handler: #"echo "hello from the handler" >&2; printf '"ok"'"#,
            initScript: #"echo "init output""#)
        let harness = try InvokerHarness(functions: [Self.function("talker", at: code)], dataDirectory: dir.url("data"))
        let first = try await harness.invoke("talker")
        let second = try await harness.invoke("talker")
        try await harness.shutdown()
        let streamPattern = #/^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$/#
        #expect(first.logStreamName.wholeMatch(of: streamPattern) != nil)
        let lines = harness.logLines(functionName: "talker", streamName: first.logStreamName)
        let starts = lines.indices.filter { lines[$0].hasPrefix("START RequestId: ") }
        #expect(starts.count == 2)
        #expect(lines.first?.hasPrefix("INIT_START Runtime Version: ") == true, "\(lines)")
        #expect(lines.contains("init output"))
        #expect(lines.contains("START RequestId: \(first.requestID) Version: $LATEST"))
        #expect(lines.contains("END RequestId: \(first.requestID)"))
        let handlerLine = try #require(lines.firstIndex(of: "hello from the handler"))
        let start = try #require(lines.firstIndex(of: "START RequestId: \(first.requestID) Version: $LATEST"))
        let end = try #require(lines.firstIndex(of: "END RequestId: \(first.requestID)"))
        #expect(start < handlerLine && handlerLine < end)
        let reports = lines.filter { $0.hasPrefix("REPORT RequestId: ") }
        #expect(reports.count == 2)
        let report =
            #/^REPORT RequestId: [0-9a-f-]{36}\tDuration: \d+\.\d{2} ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB\tMax Memory Used: \d+ MB\t(Init Duration: \d+\.\d{2} ms\t)?$/#
        for line in reports { #expect(line.wholeMatch(of: report) != nil, "\(line)") }
        #expect(reports[0].contains("Init Duration"))
        #expect(!reports[1].contains("Init Duration"))
        #expect(reports[1].contains(second.requestID))
    }

    @Test func parallelSlowRequestsGetOneEnvironmentEach() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let code = try TestFunctions.writeBash(in: dir, name: "slow", handler: #"sleep 1; printf 'pid=%s' "$$""#)
        let harness = try InvokerHarness(functions: [Self.function("slow", at: code)], dataDirectory: dir.url("data"))
        let outcomes = try await withThrowingTaskGroup(of: InvocationOutcome.self) { group in
            for _ in 0..<4 { group.addTask { try await harness.invoke("slow") } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(outcomes.map(\.logStreamName)).count == 4, "four environments")
        #expect(Set(outcomes.compactMap(Self.pidOf)).count == 4)
        // Four environments means the four were in flight at once (one after another would have reused one warm
        // environment); a wall-clock bound would only measure how busy the machine is. Each invoke's own
        // duration, measured by the platform from delivery to result, covers the handler's 1 s sleep.
        for outcome in outcomes { #expect(outcome.durationMs >= 1000, "\(outcome.durationMs) ms") }
        #expect(harness.invoker.pool(for: "slow")?.counts.total == 4)
        // Sequential requests afterwards reuse those environments.
        let again = try await harness.invoke("slow")
        #expect(Set(outcomes.map(\.logStreamName)).contains(again.logStreamName))
        #expect(harness.invoker.pool(for: "slow")?.counts.total == 4)
        try await harness.shutdown()
    }

    @Test func requestsBeyondTheConcurrencyLimitAreThrottled() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let code = try TestFunctions.writeBash(in: dir, name: "single", handler: #"sleep 1; printf '"done"'"#)
        let harness = try InvokerHarness(
            functions: [Self.function("single", at: code, concurrency: 1)], dataDirectory: dir.url("data"))
        // The pool decides synchronously when an invoke is handed to it: the first one takes the only slot (its
        // environment is still starting), so the second, made right after, finds none free.
        let loop = harness.group.next()
        let first = harness.invoker.invoke(Invoker.Request(functionName: "single", payload: ByteBuffer()), on: loop)
        let second = harness.invoker.invoke(Invoker.Request(functionName: "single", payload: ByteBuffer()), on: loop)
        await #expect {
            _ = try await second.get()
        } throws: { error in
            (error as? InvocationError)?.kind == .throttled && (error as? InvocationError)?.awsStatus == 429
        }
        #expect(try await first.get().text == #""done""#)
        try await harness.shutdown()
    }

    @Test func timeoutKillsTheProcessGroupAndTheNextRequestStartsCold() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let code = try TestFunctions.writeBash(
            in: dir, name: "sleepy",
            handler: #"if [ "$1" = '"sleep"' ]; then (sleep 30 & echo "child=$!" >&2; wait); fi; printf 'pid=%s' "$$""#)
        let harness = try InvokerHarness(
            functions: [Self.function("sleepy", at: code, timeout: 1)], dataDirectory: dir.url("data"))
        let warm = try await harness.invoke("sleepy")
        let pid = try #require(Self.pidOf(warm))
        let started = Date()
        let timedOut = try await harness.invoke("sleepy", #""sleep""#, wantsReport: true)
        let elapsed = Date().timeIntervalSince(started)
        #expect(timedOut.functionError == "Unhandled")
        #expect(timedOut.errorType == "Sandbox.Timedout")
        #expect(timedOut.text.contains("Task timed out after 1.00 seconds"))
        #expect(timedOut.reportLine?.contains("Status: timeout") == true)
        // The handler would sleep 30 s: the caller was answered at the timeout, whatever the machine's load.
        #expect(elapsed < 15, "answered after \(elapsed) s")
        // Measured on the environment's event loop from delivery: never before the 1 s timeout (10 ms of slack for
        // clock granularity); how much after it depends on how busy that loop is, so the billed duration, which is
        // capped at the timeout, is what pins the value.
        #expect(timedOut.durationMs >= 990, "\(timedOut.durationMs) ms")
        #expect(timedOut.reportLine?.contains("\tBilled Duration: 1000 ms\t") == true, "\(timedOut.reportLine ?? "")")
        #expect(ProcessTree.wait(seconds: 2) { !ProcessTree.exists(pid) }, "the runtime was killed")
        let lines = harness.logLines(functionName: "sleepy", streamName: timedOut.logStreamName)
        #expect(lines.contains { $0.hasSuffix("\(timedOut.requestID) Task timed out after 1.00 seconds") })
        let childLine = try #require(lines.first { $0.hasPrefix("child=") })
        let child = try #require(Int32(childLine.dropFirst(6)))
        #expect(ProcessTree.wait(seconds: 2) { !ProcessTree.exists(child) }, "the runtime's own child was killed too")
        let next = try await harness.invoke("sleepy")
        #expect(next.isColdStart)
        #expect(next.logStreamName != warm.logStreamName)
        try await harness.shutdown()
    }

    @Test func crashDuringInvokeIsRuntimeExitErrorAndTheEnvironmentIsReplaced() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let code = try TestFunctions.writeBash(
            in: dir, name: "crashy", handler: #"if [ "$1" = '"crash"' ]; then exit 3; fi; printf 'pid=%s' "$$""#)
        let harness = try InvokerHarness(functions: [Self.function("crashy", at: code)], dataDirectory: dir.url("data"))
        let before = try await harness.invoke("crashy")
        let crashed = try await harness.invoke("crashy", #""crash""#)
        #expect(crashed.functionError == "Unhandled")
        #expect(crashed.errorType == "Runtime.ExitError")
        #expect(crashed.text.contains("Runtime exited with error: exit status 3"))
        #expect(crashed.text.contains(crashed.requestID))
        let after = try await harness.invoke("crashy")
        #expect(after.isColdStart)
        #expect(Self.pidOf(after) != Self.pidOf(before))
        try await harness.shutdown()
    }

    @Test func crashDuringInitFailsThePendingRequest() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let code = try TestFunctions.writeBash(in: dir, name: "broken", handler: "true", initScript: "exit 2")
        let harness = try InvokerHarness(functions: [Self.function("broken", at: code)], dataDirectory: dir.url("data"))
        let outcome = try await harness.invoke("broken")
        #expect(outcome.errorType == "Runtime.ExitError")
        #expect(outcome.text.contains("exit status 2"))
        // Every attempt starts a fresh environment and fails the same way; nothing is left running.
        let again = try await harness.invoke("broken")
        #expect(again.errorType == "Runtime.ExitError")
        #expect(ProcessTree.wait(seconds: 2) { harness.invoker.pool(for: "broken")?.counts.total == 0 })
        try await harness.shutdown()
    }

    /// A runtime that writes and exits at once: its last line comes before the platform's lines about the exit
    /// (INIT_REPORT, "Runtime exited"), though the reaper's report and the pipe's last bytes reach the event loop
    /// in either order (``ExecutionEnvironment/processExited(_:outOfMemory:peakMB:outputWaits:)`` waits for the
    /// pipe's unread bytes). Ten environments, each failing twice (the INIT, then its re-run in the invoke).
    @Test func aRuntimeThatExitsAtOnceHasItsLastLineBeforeTheExitIsReported() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let code = try TestFunctions.writeBash(
            in: dir, name: "brief", handler: "true", initScript: "echo 'last words'; exit 3")
        let harness = try InvokerHarness(functions: [Self.function("brief", at: code)], dataDirectory: dir.url("data"))
        for _ in 0..<10 {
            let outcome = try await harness.invoke("brief", wantsReport: true)
            #expect(outcome.errorType == "Runtime.ExitError")
            let lines = harness.logLines(functionName: "brief", streamName: outcome.logStreamName)
            var wordsSinceStart = false
            var reports = 0
            for line in lines {
                if line.hasPrefix("INIT_START") { wordsSinceStart = false }
                if line == "last words" { wordsSinceStart = true }
                if line.hasPrefix("INIT_REPORT") || line.hasPrefix("Runtime exited with error") {
                    reports += 1
                    #expect(wordsSinceStart, "the runtime's last line first: \(lines)")
                }
            }
            #expect(reports >= 2, "\(lines)")
        }
        try await harness.shutdown()
    }

    @Test func initErrorFailsThePendingRequestWithThePostedError() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let initScript = #"""
            curl -sS -o /dev/null -H 'Lambda-Runtime-Function-Error-Type: Runtime.ConfigError' \
              --data-binary '{"errorMessage":"missing setting","errorType":"ConfigError"}' "$API/init/error"
            exit 1
            """#
        let code = try TestFunctions.writeBash(in: dir, name: "misconfigured", handler: "true", initScript: initScript)
        let harness = try InvokerHarness(
            functions: [Self.function("misconfigured", at: code)], dataDirectory: dir.url("data"))
        let outcome = try await harness.invoke("misconfigured", wantsReport: true)
        #expect(outcome.functionError == "Unhandled")
        #expect(outcome.errorType == "Runtime.ConfigError")
        #expect(outcome.text == #"{"errorMessage":"missing setting","errorType":"ConfigError"}"#)
        #expect(outcome.reportLine?.contains("Status: error") == true)
        let lines = harness.logLines(functionName: "misconfigured", streamName: outcome.logStreamName)
        #expect(lines.contains { $0.hasPrefix("INIT_REPORT Init Duration: ") && $0.contains("Status: error") })
        try await harness.shutdown()
    }

    @Test func runtimeErrorPostIsAFunctionErrorAndTheEnvironmentStaysWarm() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // This runtime reports errors itself, as awslambdaric does, instead of posting a response.
        let bootstrap = #"""
            #!/bin/bash
            API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
            while true; do
              H="$(mktemp)"
              EVENT=$(curl -sS -D "$H" "$API/invocation/next") || exit 1
              ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$H" | tr -d '[:space:]' | cut -d: -f2)
              rm -f "$H"
              if [ "$EVENT" = '"fail"' ]; then
                curl -sS -o /dev/null --data-binary "{\"errorMessage\":\"bad input\",\"errorType\":\"InputError\",\"pid\":$$}" "$API/invocation/$ID/error"
              else
                curl -sS -o /dev/null --data-binary "\"pid=$$\"" "$API/invocation/$ID/response"
              fi
            done
            """#
        try dir.write("reporter/bootstrap", bootstrap, executable: true)
        let harness = try InvokerHarness(
            functions: [Self.function("reporter", at: dir.url("reporter"))], dataDirectory: dir.url("data"))
        let ok = try await harness.invoke("reporter", #""go""#)
        let failed = try await harness.invoke("reporter", #""fail""#, wantsReport: true)
        let okAgain = try await harness.invoke("reporter", #""go""#)
        #expect(ok.functionError == nil)
        #expect(failed.functionError == "Unhandled")
        #expect(failed.errorType == "InputError")
        #expect(failed.text.contains(#""errorMessage":"bad input""#))
        #expect(failed.reportLine?.contains("Status: error") == true)
        #expect(okAgain.logStreamName == ok.logStreamName, "a function error does not reset the environment")
        try await harness.shutdown()
    }

    @Test func missingBootstrapIsInvalidEntrypoint() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("empty/README", "no bootstrap here")
        let harness = try InvokerHarness(
            functions: [Self.function("empty", at: dir.url("empty"))], dataDirectory: dir.url("data"))
        let outcome = try await harness.invoke("empty")
        #expect(outcome.errorType == "Runtime.InvalidEntrypoint")
        #expect(outcome.text.contains("bootstrap"))
        try await harness.shutdown()
    }

    @Test func idleEnvironmentsAreShutDown() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let code = try TestFunctions.writeBash(in: dir, name: "idle", handler: #"printf 'pid=%s' "$$""#)
        let harness = try InvokerHarness(
            functions: [Self.function("idle", at: code)], dataDirectory: dir.url("data"),
            idleTimeout: .milliseconds(500))
        let outcome = try await harness.invoke("idle")
        let pid = try #require(Self.pidOf(outcome))
        #expect(ProcessTree.wait(seconds: 5) { !ProcessTree.exists(pid) }, "reaped after the idle timeout")
        #expect(ProcessTree.wait(seconds: 2) { harness.invoker.pool(for: "idle")?.counts.total == 0 })
        let next = try await harness.invoke("idle")
        #expect(next.isColdStart)
        try await harness.shutdown()
    }

    @Test func platformVariablesAreSetAndReservedOnesWin() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let code = try TestFunctions.writeBash(
            in: dir, name: "env-probe", handler: #"env | sort | base64 -w0 | sed 's/.*/"&"/'"#)
        let function = Self.function(
            "env-probe", at: code,
            environment: [
                EnvironmentVariable(name: "GREETING", value: "hi there"),
                EnvironmentVariable(name: "TZ", value: "Europe/Paris"),
            ])
        let harness = try InvokerHarness(functions: [function], dataDirectory: dir.url("data"))
        let outcome = try await harness.invoke("env-probe")
        try await harness.shutdown()
        let encoded = String(outcome.text.dropFirst().dropLast())
        let text = String(decoding: Data(base64Encoded: encoded) ?? Data(), as: UTF8.self)
        let variables = Dictionary(
            text.split(whereSeparator: \.isNewline).compactMap { line -> (String, String)? in
                guard let eq = line.firstIndex(of: "=") else { return nil }
                return (String(line[..<eq]), String(line[line.index(after: eq)...]))
            }, uniquingKeysWith: { a, _ in a })
        #expect(variables["AWS_LAMBDA_FUNCTION_NAME"] == "env-probe")
        #expect(variables["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST")
        #expect(variables["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128")
        #expect(variables["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/env-probe")
        #expect(variables["AWS_LAMBDA_LOG_STREAM_NAME"] == outcome.logStreamName)
        #expect(variables["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand")
        #expect(variables["AWS_LAMBDA_RUNTIME_API"]?.hasPrefix("127.0.0.1:") == true)
        #expect(variables["LAMBDA_TASK_ROOT"] == code)
        #expect(variables["_HANDLER"] == "handler")
        #expect(variables["AWS_REGION"] == "us-east-1")
        #expect(variables["AWS_EXECUTION_ENV"] == nil, "not set for provided runtimes")
        #expect(variables["GREETING"] == "hi there")
        #expect(variables["TZ"] == "Europe/Paris", "TZ is overridable")
        #expect(variables["PWD"] == code, "working directory is the task root")
        #expect(variables["AWS_LAMBDA_MAX_CONCURRENCY"] == nil)
        // Only the function's own: nothing of the server's environment (this test process is the server) that the
        // platform does not set itself, under the same name. (bash adds PWD, SHLVL and _ of its own.)
        let inherited = ProcessInfo.processInfo.environment.keys.filter { name in
            variables[name] != nil && !["PATH", "LANG", "TZ", "PWD", "SHLVL", "_", "LD_LIBRARY_PATH"].contains(name)
        }
        #expect(inherited.isEmpty, "the server's variables reached the function: \(inherited.sorted())")
        #expect(!ProcessInfo.processInfo.environment.isEmpty)
    }

    @Test func zipPackagesAreUnpackedAndRun() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TestFunctions.writeBash(in: dir, name: "src", handler: #"printf '"zipped pid=%s"' "$$""#)
        let zip = Process()
        zip.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        zip.arguments = [
            "python3", "-c",
            "import zipfile, os\nz = zipfile.ZipFile('\(dir.url("fn.zip"))', 'w', zipfile.ZIP_DEFLATED)\n"
                + "z.write('\(dir.url("src/bootstrap"))', 'bootstrap')\nz.close()",
        ]
        try zip.run()
        zip.waitUntilExit()
        let function = FunctionConfiguration(
            name: "zipped", runtime: Runtime(identifier: "provided.al2")!, handler: "h", code: .zip(dir.url("fn.zip")))
        let harness = try InvokerHarness(functions: [function], dataDirectory: dir.url("data"))
        let outcome = try await harness.invoke("zipped")
        try await harness.shutdown()
        #expect(outcome.text.hasPrefix(#""zipped pid="#))
        // Unpacked into a directory of its revision.
        let revisions = try FileManager.default.contentsOfDirectory(atPath: dir.url("data/code/zipped"))
        #expect(revisions.count == 1)
        #expect(FileManager.default.isExecutableFile(atPath: dir.url("data/code/zipped/\(revisions[0])/bootstrap")))
    }

    @Test func unknownFunctionAndQualifierAreResourceNotFound() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let harness = try InvokerHarness(functions: [], dataDirectory: dir.url("data"))
        await #expect {
            _ = try await harness.invoke("nope")
        } throws: { error in
            guard let error = error as? InvocationError else { return false }
            return error.kind == .resourceNotFound && error.message.contains("function:nope")
        }
        try await harness.shutdown()
    }
}
