import AlbatrossTestKit
import Foundation
import Testing

/// `albatross serve` as a user runs it: a child process, a configuration file, signals.
@Suite(.serialized)
struct ServeCommandTests {
    /// Starts the built binary and waits for its "listening on" line; returns the process and the port.
    static func startServe(config: String, in dir: TemporaryDirectory) throws -> (Process, Int, Pipe) {
        let executable = try #require(
            PackagePaths.albatrossExecutable, "build the albatross executable first (swift build)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["serve", "--config", try dir.write("serve.yaml", config)]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        var text = ""
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
            if let match = text.firstMatch(of: #/listening on http://127\.0\.0\.1:(\d+)/#) {
                return (process, Int(match.1)!, output)
            }
        }
        process.terminate()
        process.waitUntilExit()
        Issue.record("albatross serve did not start: \(text)")
        throw CancellationError()
    }

    @Test func sigtermLetsInFlightRequestsFinishThenExitsCleanly() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let handler = #"""
            [ "$(printf '%s' "$1" | grep -c '"path":"/slow"')" = 1 ] && sleep 1.5
            printf '{"statusCode":200,"headers":{"x-pid":"%s"},"body":"done"}' "$$"
            """#
        try TestFunctions.writeBash(in: dir, name: "fn", handler: handler)
        let config = """
            dataDirectory: ./data
            environments: {shutdownGraceSeconds: 10}
            functions:
              - {name: fn, runtime: provided.al2023, handler: h, code: ./fn, timeout: 10}
            targetGroups:
              - {name: fn-tg, function: fn}
            listeners:
              - port: 0
                defaultAction: {forward: fn-tg}
            """
        let (process, port, output) = try Self.startServe(config: config, in: dir)
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let warm = try RawHTTPClient(port: port).request("GET", "/fast")
        #expect(warm.status == 200)
        let firstPid = try #require(warm.header("x-pid").flatMap { Int32($0) })
        async let slow = onThreads(1) { _ in try RawHTTPClient(port: port).request("GET", "/slow") }
        // SIGTERM only once the slow request is running in its environment (its START line is in the log).
        // Polled without holding a thread of the cooperative pool, which the `async let` above needs to start.
        let running = await eventually(seconds: 20) { Self.startLines(in: dir.url("data/aws/lambda/fn")) >= 2 }
        #expect(running)
        kill(process.processIdentifier, SIGTERM)
        try await Task.sleep(for: .milliseconds(200))
        #expect(throws: (any Error).self, "no new connections after SIGTERM") {
            _ = try RawHTTPClient(port: port, timeout: 2).request("GET", "/fast")
        }
        let slowResponse = try await slow[0]
        #expect(slowResponse.status == 200 && slowResponse.text == "done", "the in-flight request finished")
        let exited = await eventually(seconds: 10) { !process.isRunning }
        #expect(exited)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)
        let log = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(log.contains("received SIGTERM") && log.contains("albatross: stopped"))
        for pid in [firstPid] + (slowResponse.header("x-pid").flatMap { Int32($0) }.map { [$0] } ?? []) {
            #expect(!ProcessTree.exists(pid), "runtime \(pid) is gone")
        }
        #expect(ProcessTree.children(of: process.processIdentifier).isEmpty)
    }

    /// START lines in every log stream under a log group directory.
    static func startLines(in group: String) -> Int {
        guard let files = FileManager.default.enumerator(atPath: group) else { return 0 }
        var count = 0
        for case let file as String in files {
            let text = (try? String(contentsOfFile: "\(group)/\(file)", encoding: .utf8)) ?? ""
            count += text.components(separatedBy: " START RequestId: ").count - 1
        }
        return count
    }

    @Test func configurationErrorsNameTheFileAndKey() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let executable = try #require(PackagePaths.albatrossExecutable, "build the albatross executable first")
        let file = try dir.write(
            "bad.yaml",
            """
            functions:
              - {name: fn, runtime: nodejs20.x, handler: h, code: .}
            """)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["serve", "--config", file]
        let output = Pipe()
        process.standardError = output
        process.standardOutput = output
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 1)
        #expect(text.contains("bad.yaml:2"), "\(text)")
        #expect(text.contains("functions[0].runtime"), "\(text)")
    }

    @Test func invokeCommandPrintsTheResultAndTheReportLine() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let executable = try #require(PackagePaths.albatrossExecutable, "build the albatross executable first")
        try TestFunctions.writeBash(in: dir, name: "fn", handler: #"printf '{"got":%s}' "$1""#)
        let file = try dir.write(
            "c.yaml",
            """
            dataDirectory: ./data
            functions:
              - {name: fn, runtime: provided.al2023, handler: h, code: ./fn}
            """)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["invoke", "fn", "--config", file, "--payload", #"{"a":1}"#, "--log"]
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        process.waitUntilExit()
        let out = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let err = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0)
        #expect(out == #"{"got":{"a":1}}"# + "\n")
        #expect(err.contains("REPORT RequestId: ") && err.contains("Init Duration: "), "\(err)")
    }
}
