import AlbatrossTestKit
import Foundation
import Testing

/// Asynchronous invocation end to end: the real `albatross serve` on free ports, driven by real boto3
/// (Tests/Python/async_invocation_test.py): Event invokes, retries with a scaled back-off, Lambda, SQS and SNS
/// destinations, the dead-letter queue, the event-invoke configuration operations, the metrics; then events queued
/// when the server is killed with SIGKILL all run after a restart on the same data directory.
@Suite(.serialized)
struct AsyncInvocationEndToEndTests {
    static let handlers = """
        import json, os, time, uuid

        def failing(event, context):
            with open(os.environ["ATTEMPTS"], "a") as file:
                file.write(context.aws_request_id + "\\n")
            raise ValueError("always fails")

        def working(event, context):
            return {"ok": True, "got": event}

        def recorder(event, context):
            path = os.path.join(os.environ["RECORDS"], str(uuid.uuid4()) + ".json")
            with open(path + ".tmp", "w") as file:
                json.dump(event, file)
            os.rename(path + ".tmp", path)
            return {}

        def slow(event, context):
            time.sleep(event.get("sleep", 0.5))
            with open(os.environ["RAN"], "a") as file:
                file.write(f"{event['n']}\\n")
            return {}

        def orphan(event, context):
            return {}
        """

    static func yaml(_ dir: TemporaryDirectory) -> String {
        let arn = "arn:aws:lambda:us-east-1:123456789012:function"
        let environment =
            "{ATTEMPTS: '\(dir.url("attempts.txt"))', RECORDS: '\(dir.url("records"))', RAN: '\(dir.url("ran.txt"))'}"
        func function(_ name: String, _ extra: String = "") -> String {
            """
              - name: \(name)
                runtime: python3.12
                handler: index.\(name)
                code: ./code
                timeout: 10
                environment: \(environment)\(extra)

            """
        }
        return """
            dataDirectory: ./data
            environments:
              pythonInterpreter: \(PackagePaths.venvPython)
            api: {port: 0}
            admin: {port: 0}
            async: {delayScale: 0.002}
            listeners:
              - port: 0
                defaultAction: {fixedResponse: {statusCode: 200, contentType: text/plain, messageBody: "ok"}}
            functions:

            """
                + function(
                    "failing",
                    """

                        eventInvokeConfig: {DestinationConfig: {OnFailure: {Destination: '\(arn):recorder'}}}
                        deadLetterConfig: {TargetArn: 'arn:aws:sqs:us-east-1:123456789012:dlq'}
                    """) + function("working") + function("recorder")
                + function("slow", "\n    maximumConcurrency: 1")
                + function(
                    "orphan",
                    "\n    eventInvokeConfig: {DestinationConfig: {OnSuccess: {Destination: '\(arn):nowhere'}}}")
    }

    /// The port a side listener announced (`albatross: control API on http://127.0.0.1:<port> (…)`).
    static func port(of name: String, in server: ServeProcess) async -> Int? {
        var found: Int?
        _ = await eventually(seconds: 20) {
            found = server.output.firstMatch(of: try! Regex("\(name) on http://127\\.0\\.0\\.1:(\\d+)")).flatMap {
                $0.output[1].substring.flatMap { Int($0) }
            }
            return found != nil
        }
        return found
    }

    static func python(
        _ arguments: [String], port: Int, dir: TemporaryDirectory
    ) async throws
        -> AlbatrossCommand.Result
    {
        try await AlbatrossCommand.run(
            executable: PackagePaths.venvPython,
            ["\(PackagePaths.root)/Tests/Python/async_invocation_test.py"] + arguments,
            environment: ["ALBATROSS_API_ENDPOINT": "http://127.0.0.1:\(port)", "ALBATROSS_DIR": dir.path],
            timeout: 180)
    }

    static func ran(_ dir: TemporaryDirectory) -> [Int] {
        let text = (try? String(contentsOfFile: dir.url("ran.txt"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { Int($0) }
    }

    @Test func eventsRetriesDestinationsMetricsAndARestartWithEventsQueued() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try dir.write("code/index.py", Self.handlers)
        try FileManager.default.createDirectory(atPath: dir.url("records"), withIntermediateDirectories: true)
        let configPath = try dir.write("serve.yaml", Self.yaml(dir))
        let server = try await ServeProcess.start(configPath: configPath)
        defer { server.cleanUp() }
        let apiPort = try #require(await Self.port(of: "control API", in: server), "\(server.output)")
        let adminPort = try #require(await Self.port(of: "admin listener", in: server), "\(server.output)")

        let result = try await Self.python([], port: apiPort, dir: dir)
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("\nOK"), "\(result)")
        #expect(result.stderr.contains("Ran 11 tests"), "\(result)")

        // The metrics of what the script did (observability.md's async rows).
        let labels = #"function="failing",resource="""#
        var metrics = ""
        let counted = await eventually(seconds: 10) {
            metrics = (try? await offPool { try RawHTTPClient(port: adminPort).request("GET", "/metrics").text }) ?? ""
            return metrics.contains(#"albatross_lambda_destination_delivery_failures_total{function="orphan""#)
        }
        #expect(counted, "\(metrics)")
        #expect(metrics.contains("albatross_lambda_async_events_received_total{\(labels)} 3"), "\(metrics)")
        #expect(
            metrics.contains(
                #"albatross_lambda_async_events_dropped_total{function="failing",resource="",reason="RetriesExhausted"} 2"#
            ),
            "\(metrics)")
        #expect(
            metrics.contains(
                #"albatross_lambda_async_events_dropped_total{function="failing",resource="",reason="EventAgeExceeded"} 1"#
            ),
            "\(metrics)")
        #expect(
            metrics.contains("albatross_lambda_async_event_age_seconds_count{\(labels)} 5")
                || metrics.contains("albatross_lambda_async_event_age_seconds_count{\(labels)} 4"),
            "3 + 1 + 1 attempts (the last one may have been too old to start)")
        #expect(metrics.contains(#"albatross_lambda_dead_letter_errors_total{function="failing",resource=""} 0"#))

        // Five events of a function with concurrency 1 that take 2 s each (throttled ones go back to the queue), then
        // SIGKILL: even when a loaded disk makes each stored event take a while, most are still queued.
        // Sent on one connection without boto3's start-up, so that the kill follows the last 202 at once.
        let statuses = try await offPool {
            let client = try RawHTTPClient(port: apiPort, timeout: 30)
            return try (0..<5).map { n in
                try client.request(
                    "POST", "/2015-03-31/functions/slow/invocations", headers: [("X-Amz-Invocation-Type", "Event")],
                    body: Array(#"{"n": \#(n), "sleep": 2}"#.utf8)
                ).status
            }
        }
        kill(server.pid, SIGKILL)
        #expect(statuses == [202, 202, 202, 202, 202])
        #expect(await server.child.waitForExit(timeout: 10) != nil)
        let before = Self.ran(dir)
        #expect(before.count < 5, "events were still queued when the server died: \(before)")

        let restarted = try await ServeProcess.start(configPath: configPath)
        defer { restarted.cleanUp() }
        let all = await eventually(seconds: 60) { Set(Self.ran(dir)) == Set(0..<5) }
        #expect(all, "every queued event ran after the restart: \(Self.ran(dir))\n\(restarted.output)")
        // With maximumConcurrency 1 the restarted queue's attempts were throttled, and retried rather than lost.
        let restartedAdmin = try #require(await Self.port(of: "admin listener", in: restarted))
        let after = try await offPool { try RawHTTPClient(port: restartedAdmin).request("GET", "/metrics").text }
        let throttles = after.split(separator: "\n").first {
            $0.hasPrefix(#"albatross_lambda_throttles_total{function="slow""#)
        }.flatMap { Double($0.split(separator: " ").last ?? "") }
        #expect((throttles ?? 0) > 0, "\(after)")
        await restarted.stop()
    }
}
