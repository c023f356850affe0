import AlbatrossTestKit
import Foundation
import Testing

/// `albatross logs` on the real executable, after real `albatross invoke`s: the merged group in `aws logs tail`'s
/// format, `--filter`, `--since`, `--version` and `--alias`, `--json` (parsed by Python's json module) for a
/// function with `LoggingConfig: JSON`, and `--follow` picking up a new invocation's lines within a second.
@Suite(.serialized)
struct LogsCommandTests {
    static func setUp(_ dir: TemporaryDirectory) throws -> String {
        try TestFunctions.writeBash(
            in: dir, name: "fn",
            handler: #"echo "hello from $1 version $AWS_LAMBDA_FUNCTION_VERSION" >&2; printf '{"ok":true}'"#)
        try TestFunctions.writeBash(
            in: dir, name: "jf",
            handler: #"echo "json says $1 as $AWS_LAMBDA_LOG_FORMAT/$AWS_LAMBDA_LOG_LEVEL" >&2; printf '{}'"#)
        return try dir.write(
            "c.yaml",
            """
            dataDirectory: ./data
            functions:
              - name: fn
                runtime: provided.al2023
                handler: h
                code: ./fn
                versions: [{version: 1}]
                aliases: [{name: live, version: "1"}]
              - name: jf
                runtime: provided.al2023
                handler: h
                code: ./jf
                loggingConfig: {LogFormat: JSON, ApplicationLogLevel: WARN}
            """)
    }

    static func albatross(_ arguments: [String], config: String) async throws -> AlbatrossCommand.Result {
        try await AlbatrossCommand.run(arguments + ["-c", config])
    }

    static func invoke(_ qualified: String, _ payload: String, config: String) async throws {
        let result = try await albatross(["invoke", qualified, "-p", payload], config: config)
        #expect(result.status == 0, "\(result)")
    }

    /// `<timestamp with µs>+00:00 <YYYY/MM/DD/[version]hex> <message>`
    static var detailed: Regex<(Substring, Substring, Substring, Substring, Substring)> {
        #/^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3})000\+00:00 (\d{4}/\d{2}/\d{2}/\[([^\]]+)\][0-9a-f]{32}) (.*)$/#
    }

    @Test func printsFiltersAndSelectsTheMergedGroup() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = try Self.setUp(dir)
        try await Self.invoke("fn", #""one""#, config: config)
        try await Self.invoke("fn", #""two""#, config: config)
        try await Self.invoke("fn:live", #""three""#, config: config)

        let all = try await Self.albatross(["logs", "fn"], config: config)
        #expect(all.status == 0 && all.stderr == "", "\(all)")
        let parsed = all.lines.compactMap { try? Self.detailed.wholeMatch(in: $0)?.output }
        #expect(parsed.count == all.lines.count, "every line in the detailed format: \(all)")
        // Three invokes, each a cold start in its own process: INIT_START, START, the output, END, REPORT.
        let messages = parsed.map { String($0.4) }
        #expect(messages.filter { $0.hasPrefix("INIT_START Runtime Version: ") }.count == 3, "\(all)")
        #expect(messages.filter { $0.hasPrefix("REPORT RequestId: ") }.count == 3, "\(all)")
        #expect(
            messages.filter { $0.hasPrefix("hello from ") }
                == [
                    #"hello from "one" version $LATEST"#, #"hello from "two" version $LATEST"#,
                    #"hello from "three" version 1"#,
                ])
        #expect(Set(parsed.map(\.2)).count == 3, "three streams")
        let times = parsed.map { String($0.1) }
        #expect(times == times.sorted(), "merged in time order")

        let filtered = try await Self.albatross(["logs", "fn", "--filter", #""two""#], config: config)
        #expect(
            filtered.lines.count == 1 && filtered.lines[0].hasSuffix(#" hello from "two" version $LATEST"#),
            "\(filtered)")

        for selection in [["--version", "1"], ["--alias", "live"]] {
            let one = try await Self.albatross(["logs", "fn"] + selection, config: config)
            let lines = one.lines.compactMap { try? Self.detailed.wholeMatch(in: $0)?.output }
            #expect(lines.count == 5 && lines.allSatisfy { $0.3 == "1" }, "\(selection): \(one)")
            #expect(lines.contains { $0.4 == #"hello from "three" version 1"# })
        }
        let latest = try await Self.albatross(["logs", "fn", "--version", "$LATEST"], config: config)
        #expect(latest.lines.count == 10 && !latest.stdout.contains("three"), "\(latest)")

        let future = try await Self.albatross(["logs", "fn", "--since", "2999-01-01T00:00:00Z"], config: config)
        #expect(future.status == 0 && future.stdout == "", "\(future)")
        let hour = try await Self.albatross(["logs", "fn", "--since", "1h"], config: config)
        #expect(hour.stdout == all.stdout)

        let badSince = try await Self.albatross(["logs", "fn", "--since", "5h30m"], config: config)
        #expect(badSince.status != 0 && badSince.stderr.contains("--since must be like 10m"), "\(badSince)")
        let unknown = try await Self.albatross(["logs", "nope"], config: config)
        #expect(unknown.status == 1, "\(unknown)")
        #expect(unknown.stderr == "albatross: function \"nope\" is not defined in \(config) nor in the store\n")
    }

    @Test func jsonFormatRecordsAndJSONOutputParseInPython() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = try Self.setUp(dir)
        try await Self.invoke("jf", #""x""#, config: config)
        let result = try await Self.albatross(["logs", "jf", "--json"], config: config)
        #expect(result.status == 0 && result.lines.count == 5, "\(result)")
        let script = dir.url("check.py")
        try dir.write(
            "check.py",
            """
            import json, sys
            for line in open(sys.argv[1]):
                event = json.loads(line)
                assert set(event) == {"logGroupName", "logStreamName", "timestamp", "message"}, event
                assert event["logGroupName"] == "/aws/lambda/jf" and isinstance(event["timestamp"], int)
                message = event["message"]
                if message.startswith("{"):
                    record = json.loads(message)
                    print(record["type"], ",".join(sorted(record["record"])))
                else:
                    print("function", message)
            """)
        try dir.write("out.jsonl", result.stdout)
        let python = try await AlbatrossCommand.run(
            executable: "/usr/bin/env", ["python3", script, dir.url("out.jsonl")])
        #expect(python.status == 0 && python.stderr == "", "\(python)")
        #expect(
            python.lines == [
                "platform.initStart initializationType,phase,runtimeVersion,runtimeVersionArn",
                "platform.start requestId,version",
                #"function json says "x" as JSON/WARN"#,
                "platform.runtimeDone metrics,requestId,status",
                "platform.report metrics,requestId,status",
            ], "\(python)")
    }

    @Test func followShowsANewInvocationWithinASecond() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = try Self.setUp(dir)
        try await Self.invoke("fn", #""before""#, config: config)
        let follow = try BackgroundProcess(
            AlbatrossCommand.executable(), ["logs", "fn", "--follow", "-c", config])
        defer { follow.cleanUp() }
        #expect(await follow.waitForOutput(#"hello from "before""#, timeout: 10), "\(follow.output)")
        #expect(follow.isRunning)

        for round in ["after", "again"] {
            try await Self.invoke("fn", "\"\(round)\"", config: config)
            #expect(
                await follow.waitForOutput(#"hello from "\#(round)" version $LATEST"#, timeout: 1.0),
                "within a second of the invoke: \(follow.output)")
            #expect(await follow.waitForOutput("REPORT RequestId: ", count: round == "after" ? 2 : 3, timeout: 1.0))
        }
        #expect(follow.occurrences(of: #"hello from "before""#) == 1, "old lines are printed once")

        follow.signal(SIGINT)
        let outcome = await follow.waitForExit(timeout: 5)
        #expect(outcome?.status == 0 && outcome?.exited == true, "Ctrl-C ends it quietly")
    }
}
