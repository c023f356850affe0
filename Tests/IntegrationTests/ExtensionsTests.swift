import AlbatrossTestKit
import Environments
import Foundation
import InvocationModel
import NIOCore
import Testing

/// The Extensions API end to end (runtime-api.md §1.9, §2): real bash extensions started from a layer's
/// `extensions/` directory next to a bash runtime, each recording what it received in a file of the test's
/// directory (`EXT_DIR`, a function variable the extensions inherit).
@Suite(.serialized)
struct ExtensionsTests {
    /// A bash extension: registers as `name` for `events`, records each event in `$EXT_DIR/<name>.log` (and prints
    /// it), runs `onInvoke` after an INVOKE before asking again, exits 0 on SHUTDOWN. `beforeLoop` runs after
    /// the registration (with `$ID` set).
    static func bashExtension(
        name: String, events: String = #"["INVOKE","SHUTDOWN"]"#, beforeLoop: String = "", onInvoke: String = ""
    ) -> String {
        """
        #!/bin/bash
        set -uo pipefail
        API="http://${AWS_LAMBDA_RUNTIME_API}/2020-01-01/extension"
        LOG="$EXT_DIR/\(name).log"
        echo "pid $$" >> "$LOG"
        HEADERS="$(mktemp)"
        BODY=$(curl -sS -D "$HEADERS" -X POST -H 'Lambda-Extension-Name: \(name)' -d '{"events":\(events)}' "$API/register")
        ID=$(grep -Fi Lambda-Extension-Identifier "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
        rm -f "$HEADERS"
        echo "registered $BODY" >> "$LOG"
        echo "\(name): registered"
        \(beforeLoop)
        while true; do
          EVENT=$(curl -sS -H "Lambda-Extension-Identifier: $ID" "$API/event/next") || exit 1
          echo "event $EVENT" >> "$LOG"
          echo "\(name): $EVENT"
          case "$EVENT" in
            *'"SHUTDOWN"'*) echo "exiting" >> "$LOG"; exit 0 ;;
          esac
          \(onInvoke)
        done
        """
    }

    static func yaml(
        layers: [String], extra: String = "", environment: String, freezeIdle: Bool = false, timeout: Int = 5
    ) -> String {
        let declared = layers.map { "  - {name: \($0), code: ./layers/\($0)}" }.joined(separator: "\n")
        return """
            dataDirectory: ./data
            environments:
              freezeIdle: \(freezeIdle)
            \(extra)
            layers:
            \(declared)
            functions:
              - name: fn
                runtime: provided.al2023
                handler: h
                code: ./fn
                timeout: \(timeout)
                layers: [\(layers.joined(separator: ", "))]
                environment: {EXT_DIR: \(environment)}
            targetGroups:
              - {name: fn, function: fn}
            listeners:
              - port: 0
                defaultAction: {forward: fn}
            """
    }

    static func write(_ dir: TemporaryDirectory, layer: String, extensions: [String: String]) throws {
        for (name, script) in extensions {
            try dir.write("layers/\(layer)/extensions/\(name)", script, executable: true)
        }
    }

    static func lines(_ dir: TemporaryDirectory, _ name: String) -> [String] {
        let text = (try? String(contentsOfFile: dir.url("records/\(name).log"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
    }

    static func pid(_ dir: TemporaryDirectory, _ name: String) -> Int32? {
        lines(dir, name).first { $0.hasPrefix("pid ") }.flatMap { Int32($0.dropFirst(4)) }
    }

    static func invoke(
        _ server: ServerHarness, _ payload: String = "{}", wantsReport: Bool = true
    ) async throws -> InvocationOutcome {
        try await server.application.invoke(
            InvokeRequest(functionName: "fn", payload: ByteBuffer(string: payload), wantsReport: wantsReport))
    }

    /// The lines of a log stream of `fn`, timestamps stripped.
    static func logLines(_ server: ServerHarness, _ stream: String) -> [String] {
        server.logSink.flush()
        let path = "\(server.configuration.dataDirectory)/aws/lambda/fn/\(stream)"
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map { line in
            line.firstIndex(of: " ").map { String(line[line.index(after: $0)...]) } ?? String(line)
        }
    }

    static func prepare(_ dir: TemporaryDirectory, handler: String = #"printf '"ok"'"#) throws {
        try TestFunctions.writeBash(in: dir, name: "fn", handler: handler)
        try FileManager.default.createDirectory(atPath: dir.url("records"), withIntermediateDirectories: true)
    }

    @Test func aBashExtensionRegistersGetsEveryInvokeAndShutdownAndExits() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.prepare(dir)
        try Self.write(dir, layer: "ext", extensions: ["recorder": Self.bashExtension(name: "recorder")])
        let server = try await ServerHarness(
            yaml: Self.yaml(layers: ["ext"], environment: dir.url("records")), baseDirectory: dir.path)
        let first = try await Self.invoke(server)
        let second = try await Self.invoke(server)
        #expect(first.text == #""ok""#)
        #expect(first.functionError == nil && second.functionError == nil)
        #expect(first.logStreamName == second.logStreamName, "one warm environment")
        let pid = try #require(Self.pid(dir, "recorder"))
        #expect(ProcessTree.exists(pid))
        let lines = Self.lines(dir, "recorder")
        #expect(lines.contains { $0 == #"registered {"functionName":"fn","functionVersion":"$LATEST","handler":"h"}"# })
        let invokes = lines.filter { $0.hasPrefix(#"event {"eventType":"INVOKE""#) }
        #expect(invokes.count == 2)
        for (line, outcome) in zip(invokes, [first, second]) {
            #expect(line.contains(#""requestId":"\#(outcome.requestID)""#), "\(line)")
            #expect(line.contains(#""invokedFunctionArn":"arn:aws:lambda:"#))
            #expect(line.contains(#""tracing":{"type":"X-Amzn-Trace-Id","value":"Root=1-"#))
            #expect(line.firstMatch(of: #/"deadlineMs":\d{13},/#) != nil)
        }
        // The extension's output is in the function's log stream, INIT waited for it.
        let log = Self.logLines(server, first.logStreamName)
        #expect(log.contains("recorder: registered"))
        #expect(log.first?.hasPrefix("INIT_START Runtime Version: ") == true, "INIT starts with the extensions: \(log)")
        #expect(first.reportLine?.contains("Init Duration") == true)

        let stopping = Date()
        await server.shutdown()
        let shutdown = try #require(Self.lines(dir, "recorder").first { $0.contains(#""SHUTDOWN""#) })
        #expect(shutdown.contains(#""shutdownReason":"spindown""#))
        let deadline = try #require(shutdown.firstMatch(of: #/"deadlineMs":(\d+)/#).flatMap { Int64($0.1) })
        let stoppedAt = Int64(stopping.timeIntervalSince1970 * 1000)
        // 1 ms of slack below: both sides are truncated to milliseconds (the stop's wall clock, the grace left).
        let seen = "deadline \(deadline), stopped at \(stoppedAt), lines \(Self.lines(dir, "recorder"))"
        #expect(
            deadline >= stoppedAt + 1_999 && deadline <= stoppedAt + 6_000,
            "the termination grace (2 s) from the stop: \(seen)")
        #expect(Self.lines(dir, "recorder").last == "exiting")
        #expect(!ProcessTree.exists(pid), "the extension exited")
    }

    @Test func aFrozenEnvironmentThawsItsExtensionsForTheNextInvoke() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.prepare(dir)
        try Self.write(dir, layer: "ext", extensions: ["recorder": Self.bashExtension(name: "recorder")])
        let server = try await ServerHarness(
            yaml: Self.yaml(layers: ["ext"], environment: dir.url("records"), freezeIdle: true), baseDirectory: dir.path
        )
        var outcomes: [InvocationOutcome] = []
        for _ in 0..<3 {
            outcomes.append(try await Self.invoke(server))
            try await Task.sleep(for: .milliseconds(300))  // idle: the runtime and the extension are frozen
        }
        #expect(Set(outcomes.map(\.logStreamName)).count == 1, "one warm environment")
        let invokes = Self.lines(dir, "recorder").filter { $0.hasPrefix(#"event {"eventType":"INVOKE""#) }
        #expect(invokes.count == 3)
        for (line, outcome) in zip(invokes, outcomes) { #expect(line.contains(outcome.requestID)) }
        await server.shutdown()
        #expect(Self.lines(dir, "recorder").last == "exiting", "thawed for its SHUTDOWN")
    }

    @Test func anExtensionThatOverrunsTheFunctionTimeoutResetsTheEnvironment() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.prepare(dir)
        try Self.write(
            dir, layer: "slow", extensions: ["slow": Self.bashExtension(name: "slow", onInvoke: "sleep 3")])
        let server = try await ServerHarness(
            yaml: Self.yaml(layers: ["slow"], environment: dir.url("records"), timeout: 1), baseDirectory: dir.path)
        let first = try await Self.invoke(server, wantsReport: false)
        #expect(first.text == #""ok""#, "the caller has the response")
        let pid = try #require(Self.pid(dir, "slow"))
        // The function timeout covers the extensions: at 1 s the environment is reset, its extension told so.
        let reset = await eventually(seconds: 10) {
            Self.lines(dir, "slow").contains { $0.contains(#""shutdownReason":"timeout""#) } || !ProcessTree.exists(pid)
        }
        #expect(reset)
        #expect(await eventually(seconds: 10) { !ProcessTree.exists(pid) })
        let second = try await Self.invoke(server, wantsReport: false)
        #expect(second.logStreamName != first.logStreamName, "a new environment")
        await server.shutdown()
    }

    @Test func aSlowExtensionHoldsTheEnvironmentAndItsTimeIsInTheDuration() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.prepare(dir)
        try Self.write(
            dir, layer: "slow", extensions: ["slow": Self.bashExtension(name: "slow", onInvoke: "sleep 1")])
        let server = try await ServerHarness(
            yaml: Self.yaml(layers: ["slow"], environment: dir.url("records")), baseDirectory: dir.path)
        _ = try await Self.invoke(server)  // the cold start, out of the way
        try await Task.sleep(for: .milliseconds(1500))
        let start = Date()
        let warm = try await Self.invoke(server, wantsReport: false)
        let answeredIn = Date().timeIntervalSince(start)
        // The response goes back as soon as the runtime posts it; the environment is not free before the extension
        // asked again, so an invoke right after it starts another environment.
        let meanwhile = try await Self.invoke(server, wantsReport: false)
        #expect(answeredIn < 0.9, "answered before the extension was done (\(answeredIn) s)")
        #expect(meanwhile.logStreamName != warm.logStreamName, "the busy environment was not handed out")
        // The REPORT waits for the extension, and its Duration covers it (AWS's PostRuntimeExtensionsDuration).
        var report = ""
        _ = await eventually(seconds: 10) {
            report =
                Self.logLines(server, warm.logStreamName).first { $0.hasPrefix("REPORT RequestId: \(warm.requestID)") }
                ?? ""
            return !report.isEmpty
        }
        let duration = try #require(report.firstMatch(of: #/\tDuration: (\d+)\.\d\d ms/#).flatMap { Double($0.1) })
        #expect(duration >= 1000, "\(report)")
        let end = Self.logLines(server, warm.logStreamName).firstIndex { $0 == "END RequestId: \(warm.requestID)" }
        #expect(end != nil)
        try await Task.sleep(for: .milliseconds(1500))
        let later = try await Self.invoke(server)
        #expect([warm.logStreamName, meanwhile.logStreamName].contains(later.logStreamName), "warm again")
        await server.shutdown()
    }

    @Test func anExtensionThatFailsItsInitFailsTheInvokeWithExtensionInitError() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.prepare(dir)
        let failing = Self.bashExtension(
            name: "broken",
            beforeLoop: """
                curl -sS -X POST -H "Lambda-Extension-Identifier: $ID" \
                  -H 'Lambda-Extension-Function-Error-Type: Extension.ConfigInvalid' \
                  -d '{"errorMessage":"no configuration","errorType":"Extension.ConfigInvalid"}' "$API/init/error" >> "$LOG"
                echo >> "$LOG"
                exit 1
                """)
        try Self.write(dir, layer: "broken", extensions: ["broken": failing])
        let server = try await ServerHarness(
            yaml: Self.yaml(layers: ["broken"], environment: dir.url("records")), baseDirectory: dir.path)
        let outcome = try await Self.invoke(server)
        #expect(outcome.functionError == "Unhandled")
        #expect(outcome.errorType == "Extension.InitError")
        #expect(outcome.text.contains(#""errorType":"Extension.InitError""#), "\(outcome.text)")
        let accepted = await eventually(seconds: 10) { Self.lines(dir, "broken").contains(#"{"status":"OK"}"#) }
        #expect(accepted, "init/error was accepted")
        let log = Self.logLines(server, outcome.logStreamName)
        #expect(log.contains { $0.hasPrefix("INIT_REPORT") && $0.contains("Extension.InitError") }, "\(log)")
        await server.shutdown()
    }

    @Test func retiringThePoolSendsShutdownWithItsDeadline() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.prepare(dir, handler: #"printf '"v1"'"#)
        try Self.write(dir, layer: "ext", extensions: ["watcher": Self.bashExtension(name: "watcher")])
        let yaml = Self.yaml(layers: ["ext"], environment: dir.url("records"))
        try dir.write("test.yaml", yaml)
        let server = try await ServerHarness(yaml: yaml, baseDirectory: dir.path, watchesChanges: true)
        let first = try await Self.invoke(server)
        #expect(first.text == #""v1""#)
        let pid = try #require(Self.pid(dir, "watcher"))
        // A code edit retires the pool: its idle environment stops, and its extension hears of it.
        try Self.prepare(dir, handler: #"printf '"v2"'"#)
        let retired = await eventually(seconds: 30) {
            Self.lines(dir, "watcher").contains { $0.contains(#""SHUTDOWN""#) }
        }
        #expect(retired)
        let shutdown = Self.lines(dir, "watcher").first { $0.contains(#""SHUTDOWN""#) } ?? ""
        #expect(shutdown.contains(#""shutdownReason":"spindown""#), "\(shutdown)")
        #expect(shutdown.firstMatch(of: #/"deadlineMs":\d{13}\}/#) != nil, "\(shutdown)")
        #expect(await eventually(seconds: 10) { !ProcessTree.exists(pid) }, "the extension exited")
        await server.shutdown()
    }

    @Test func anExtensionThatNeverAsksAgainAfterShutdownIsKilledAtTheDeadline() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.prepare(dir)
        // It ignores SIGTERM and never exits on SHUTDOWN: the platform kills it at the deadline.
        let stubborn = Self.bashExtension(name: "stubborn", beforeLoop: "trap '' TERM")
            .replacingOccurrences(
                of: #"echo "exiting" >> "$LOG"; exit 0"#, with: #"echo "ignoring" >> "$LOG"; sleep 600"#)
        try Self.write(dir, layer: "ext", extensions: ["stubborn": stubborn])
        let server = try await ServerHarness(
            yaml: Self.yaml(layers: ["ext"], environment: dir.url("records")), baseDirectory: dir.path)
        _ = try await Self.invoke(server)
        let pid = try #require(Self.pid(dir, "stubborn"))
        let start = Date()
        await server.shutdown()
        let took = Date().timeIntervalSince(start)
        #expect(Self.lines(dir, "stubborn").contains("ignoring"))
        #expect(!ProcessTree.exists(pid))
        #expect(took >= 1.5 && took < 10, "killed at the 2 s deadline (\(took) s)")
    }

    /// The Telemetry API listener of the test: a tiny Python HTTP server on a free loopback port (written to
    /// `$1/port`) that appends every record it is POSTed to `$1/telemetry.jsonl`.
    static let listener = """
        import http.server, json, os, sys
        out = sys.argv[1]
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with open(os.path.join(out, "telemetry.jsonl"), "a") as f:
                    for record in json.loads(body):
                        f.write(json.dumps(record) + "\\n")
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
            def log_message(self, *args):
                pass
        server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        with open(os.path.join(out, "port.tmp"), "w") as f:
            f.write(str(server.server_port))
        os.rename(os.path.join(out, "port.tmp"), os.path.join(out, "port"))
        server.serve_forever()
        """

    static func telemetryRecords(_ dir: TemporaryDirectory) -> [[String: Any]] {
        let text = (try? String(contentsOfFile: dir.url("records/telemetry.jsonl"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    @Test func anExtensionSubscribedToTelemetryGetsPlatformFunctionAndExtensionRecords() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.prepare(dir, handler: #"echo "hello from the handler" >&2; printf '"ok"'"#)
        try dir.write("layers/tele/listener.py", Self.listener)
        let subscribe = """
            python3 "$(dirname "$0")/../listener.py" "$EXT_DIR" &
            for _ in $(seq 100); do [ -f "$EXT_DIR/port" ] && break; sleep 0.05; done
            PORT=$(cat "$EXT_DIR/port")
            curl -sS -X PUT -H "Lambda-Extension-Identifier: $ID" \\
              -d '{"schemaVersion":"2022-12-13","types":["platform","function","extension"],"buffering":{"maxItems":1000,"maxBytes":262144,"timeoutMs":25},"destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:'"$PORT"'/telemetry"}}' \\
              "http://${AWS_LAMBDA_RUNTIME_API}/2022-07-01/telemetry" > "$EXT_DIR/subscribed"
            """
        try Self.write(
            dir, layer: "tele", extensions: ["tele": Self.bashExtension(name: "tele", beforeLoop: subscribe)])
        let server = try await ServerHarness(
            yaml: Self.yaml(layers: ["tele"], environment: dir.url("records")), baseDirectory: dir.path)
        let hub = try #require(server.application.invoker.settings.telemetry)
        #expect(!hub.isAttached, "no environment yet: the hub is not a subscriber of the bus")
        let first = try await Self.invoke(server)
        #expect(hub.isAttached, "an environment of a function with layers subscribed it")
        let second = try await Self.invoke(server)
        #expect((try? String(contentsOfFile: dir.url("records/subscribed"), encoding: .utf8)) == #""OK""#)
        let complete = await eventually(seconds: 15) {
            let reports = Self.telemetryRecords(dir).filter { $0["type"] as? String == "platform.report" }
            return reports.count >= 2
        }
        #expect(complete, "both invokes reported")
        let records = Self.telemetryRecords(dir)
        let types = records.compactMap { $0["type"] as? String }
        #expect(types.first == "platform.initStart", "INIT's records before the subscription are replayed: \(types)")
        for type in ["platform.telemetrySubscription", "platform.initRuntimeDone", "platform.initReport"] {
            #expect(types.contains(type), "\(type) in \(types)")
        }
        for outcome in [first, second] {
            func record(_ type: String) -> [String: Any]? {
                records.first {
                    ($0["type"] as? String) == type
                        && (($0["record"] as? [String: Any])?["requestId"] as? String) == outcome.requestID
                }?["record"] as? [String: Any]
            }
            #expect(record("platform.start")?["version"] as? String == "$LATEST")
            #expect(record("platform.runtimeDone")?["status"] as? String == "success")
            let report = try #require(record("platform.report"))
            #expect(report["status"] as? String == "success")
            let metrics = try #require(report["metrics"] as? [String: Any])
            #expect(metrics["memorySizeMB"] as? Int == 128)
            #expect((metrics["durationMs"] as? Double ?? -1) >= 0)
            #expect((metrics["billedDurationMs"] as? Int ?? 0) >= 1)
            #expect((metrics["maxMemoryUsedMB"] as? Int ?? 0) > 0)
            #expect((metrics["initDurationMs"] != nil) == (outcome.requestID == first.requestID), "INIT on the first")
        }
        #expect(
            records.contains {
                $0["type"] as? String == "function" && $0["record"] as? String == "hello from the handler"
            })
        #expect(
            records.contains { $0["type"] as? String == "extension" && $0["record"] as? String == "tele: registered" })
        let time = try #require(records.first?["time"] as? String)
        #expect(time.wholeMatch(of: #/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/#) != nil, "\(time)")
        await server.shutdown()
    }

    /// A function without layers can have no external extension: its environments do not subscribe the Telemetry
    /// API's hub to the bus, so a server without extensions pays no bus subscriber per request for it.
    @Test func withoutLayersTheTelemetryHubIsNoSubscriber() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.prepare(dir)
        let yaml = Self.yaml(layers: [], environment: dir.url("records"))
            .replacingOccurrences(of: "layers:\n\n", with: "").replacingOccurrences(of: "    layers: []\n", with: "")
        #expect(!yaml.contains("layers"), "\(yaml)")
        let server = try await ServerHarness(yaml: yaml, baseDirectory: dir.path)
        let hub = try #require(server.application.invoker.settings.telemetry)
        for _ in 0..<2 { #expect(try await Self.invoke(server).text == #""ok""#) }
        #expect(!hub.isAttached)
        await server.shutdown()
    }

    /// aws-lambda-go's `GoLangEnableSIGTERM` (runtime-api.md §1.9), done by a bash runtime the way the Go library
    /// does it (Go and the module are not available offline here): an internal extension with no events, a
    /// `/event/next` that is never answered, and a SIGTERM handler that runs when the environment stops.
    @Test func anInternalExtensionLikeGoLangEnableSIGTERMGetsItsSigterm() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let initScript = """
            EXT="http://${AWS_LAMBDA_RUNTIME_API}/2020-01-01/extension"
            HEADERS="$(mktemp)"
            curl -sS -D "$HEADERS" -o "$EXT_DIR/registered" -X POST -H 'Lambda-Extension-Name: GoLangEnableSIGTERM' \\
              -d '{"events":[]}' "$EXT/register"
            ID=$(grep -Fi Lambda-Extension-Identifier "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
            curl -sS -H "Lambda-Extension-Identifier: $ID" "$EXT/event/next" > "$EXT_DIR/next-answered" &
            trap 'echo "SIGTERM received" > "$EXT_DIR/sigterm"; exit 0' TERM
            """
        try TestFunctions.writeBash(in: dir, name: "fn", handler: #"printf '"ok"'"#, initScript: initScript)
        try FileManager.default.createDirectory(atPath: dir.url("records"), withIntermediateDirectories: true)
        try dir.write("layers/empty/README", "a layer without extensions")
        // A grace far longer than the trap needs: on a loaded machine (CI's two cores running three suites) the
        // default 2 s between SIGTERM and SIGKILL is not a bound on how soon bash runs its trap.
        let yaml = Self.yaml(layers: ["empty"], environment: dir.url("records"))
            .replacingOccurrences(of: "freezeIdle: false", with: "freezeIdle: false\n  terminationGraceSeconds: 20")
        let server = try await ServerHarness(yaml: yaml, baseDirectory: dir.path)
        let first = try await Self.invoke(server)
        let second = try await Self.invoke(server)
        #expect(first.text == #""ok""# && second.text == #""ok""#, "INIT ended, the internal extension holds nothing")
        let registered = (try? String(contentsOfFile: dir.url("records/registered"), encoding: .utf8)) ?? ""
        #expect(registered.contains(#""functionName":"fn""#), "\(registered)")
        let log = Self.logLines(server, first.logStreamName)
        let started = ContinuousClock.now
        await server.shutdown()
        #expect(
            (try? String(contentsOfFile: dir.url("records/sigterm"), encoding: .utf8)) == "SIGTERM received\n",
            "shutdown took \(ContinuousClock.now - started); the log: \(log.suffix(12))")
        let answered = (try? String(contentsOfFile: dir.url("records/next-answered"), encoding: .utf8)) ?? ""
        #expect(!answered.contains("eventType"), "its /event/next never got an event")
    }
}
