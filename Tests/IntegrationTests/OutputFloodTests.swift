import AlbatrossTestKit
import Foundation
import Testing

/// Issue 12's robustness test "a runtime that floods stdout": the server reads a runtime's output no faster than
/// its log writer writes it, so the runtime is throttled (its writes block on the full pipe) rather than the server,
/// whose memory stays bounded, and no line is lost. Through the real binary, so that the server's RSS is its own.
///
/// The log writer is made to fall behind as a user's console makes it: `serve` mirrors function logs on its
/// standard output, here a pipe to a `cat` that is stopped for a few seconds during the flood (a terminal on
/// Ctrl-S, a pager not read), so the writer's writes to the console block.
@Suite(.serialized)
struct OutputFloodTests {
    /// Lines the flooding invoke writes: `seq` writes them in well under a second unthrottled.
    static let lineCount = 500_000
    /// How long the console stops reading during the flood.
    static let stall = Duration.seconds(3)
    /// Lines of the invoke that ends while its output is held: more than the console's pipe and a high-water mark
    /// hold, so that the reader holds before the invoke's tail.
    static let burstLines = 20_000

    /// What the server's resident memory may grow by at most during the flood. Read unthrottled, the lines the
    /// server reads while the console is stopped queue for the log writer (measured: 70 MB of growth in a debug
    /// build); throttled, at most about two high-water marks of lines
    /// (``InvocationEventSubscription/outputHighWater``) and one read of the pipe are held at a time (measured:
    /// 4 to 6 MB, the allocator's noise included). The bound is four times that, a third of the unthrottled growth.
    static let rssGrowthBoundKB = 24 * 1024

    @Test func aRuntimeThatFloodsItsOutputIsThrottledAndLosesNoLine() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TestFunctions.writeBash(
            in: dir, name: "flood",
            handler: """
                case "$1" in
                  *'"path":"/flood"'*)
                    start=$(date +%s%N)
                    seq 1 \(Self.lineCount) >&2
                    end=$(date +%s%N)
                    \(TestFunctions.albResponse(body: "wrote in $(( (end - start) / 1000000 )) ms"))
                    ;;
                  *'"path":"/burst"'*)
                    seq 1 \(Self.burstLines) >&2; sleep 0.5; seq -f 'tail-%g' 1 1000 >&2
                    \(TestFunctions.albResponse(body: "burst"))
                    ;;
                  *) echo 'after the flood' >&2; \(TestFunctions.albResponse(body: "hi")) ;;
                esac
                """)
        let config = try dir.write(
            "serve.yaml",
            """
            dataDirectory: ./data
            admin: {address: 127.0.0.1, port: 0}
            functions:
              - {name: flood, runtime: provided.al2023, handler: h, code: ./flood, timeout: 120}
            targetGroups:
              - {name: flood-tg, function: flood}
            listeners:
              - port: 0
                defaultAction: {forward: flood-tg}
            """)
        let (server, console) = try await Self.serveWithConsole(config)
        defer { server.cleanUp() }
        // Whatever happens below, the console reads again (the server can then end).
        defer { kill(console, SIGCONT) }
        let adminPort = try #require(await server.adminPort(), "no admin listener announced: \(server.output)")

        // Warm: the environment, the log writer and their buffers exist before the baseline is taken.
        let warm = try RawHTTPClient(port: server.port, timeout: 30).request("GET", "/warm")
        #expect(warm.status == 200 && warm.text == "hi", "\(warm.status) \(warm.text)")
        let group = dir.url("data/aws/lambda/flood")
        #expect(await eventually(seconds: 10) { Self.messages(in: group).contains { $0.hasPrefix("REPORT ") } })
        let before = try #require(Self.memoryKB(pid: server.pid, field: "VmRSS"))

        kill(console, SIGSTOP)
        let port = server.port
        async let flooding = offPool { try RawHTTPClient(port: port, timeout: 120).request("GET", "/flood") }
        try await Task.sleep(for: Self.stall)
        kill(console, SIGCONT)
        let flood = try await flooding
        #expect(flood.status == 200 && flood.text.hasPrefix("wrote in "), "\(flood.status) \(flood.text)")
        // (4) The environment (thawed, its reader no longer held) answers the next invoke.
        let next = try RawHTTPClient(port: server.port, timeout: 30).request("GET", "/next")
        #expect(next.status == 200 && next.text == "hi", "\(next.status) \(next.text)")

        // (2) The peak of the server's resident memory since the baseline.
        let peak = try #require(Self.memoryKB(pid: server.pid, field: "VmHWM"))
        let growthKB = peak - before
        #expect(
            growthKB < Self.rssGrowthBoundKB,
            "the server's RSS grew by \(growthKB / 1024) MB during the flood (from \(before / 1024) MB)")

        // (1) Every line, in order, between the flood's START and its END, REPORT after them.
        var messages: [Substring] = []
        let written = await eventually(seconds: 60) {
            messages = Self.messages(in: group)
            return messages.filter { $0.hasPrefix("REPORT ") }.count == 3
        }
        #expect(written, "three REPORT lines: \(messages.suffix(5))")
        let starts = messages.indices.filter { messages[$0].hasPrefix("START ") }
        let ends = messages.indices.filter { messages[$0].hasPrefix("END ") }
        try #require(starts.count == 3 && ends.count == 3, "\(starts) \(ends)")
        let floodLines = messages[(starts[1] + 1)..<ends[1]]
        #expect(floodLines.count == Self.lineCount, "\(floodLines.count) lines of \(Self.lineCount)")
        let firstWrong = zip(floodLines, 1...).first { $0.0 != String($0.1) }
        #expect(firstWrong == nil, "line \(firstWrong.map { "\($0.1) is \($0.0)" } ?? "")")
        #expect(messages[ends[1] + 1].hasPrefix("REPORT "))
        #expect(messages[starts[2] + 1] == "after the flood")

        // An invoke that ends while its output is held (the console stopped throughout): the log writer is behind
        // after its first lines, the reader holds, the tail written half a second later waits in the pipe when
        // the runtime posts its result; it is read then, before the invoke's END and REPORT.
        kill(console, SIGSTOP)
        let burst = try await offPool { try RawHTTPClient(port: port, timeout: 60).request("GET", "/burst") }
        kill(console, SIGCONT)
        #expect(burst.status == 200 && burst.text == "burst", "\(burst.status) \(burst.text)")
        let burstWritten = await eventually(seconds: 60) {
            messages = Self.messages(in: group)
            return messages.filter { $0.hasPrefix("REPORT ") }.count == 4
        }
        #expect(burstWritten, "four REPORT lines: \(messages.suffix(5))")
        let burstStart = try #require(messages.lastIndex { $0.hasPrefix("START ") })
        let burstEnd = try #require(messages.lastIndex { $0.hasPrefix("END ") })
        let expected = (1...Self.burstLines).map(String.init) + (1...1000).map { "tail-\($0)" }
        let burstLines = messages[(burstStart + 1)..<max(burstStart + 1, burstEnd)].map(String.init)
        let burstInOrder = burstLines == expected
        #expect(
            burstInOrder,
            "\(burstLines.count) lines before END, of \(expected.count); last: \(burstLines.suffix(2))")
        #expect(messages.last?.hasPrefix("REPORT ") == true)

        // (3) The runtime was throttled: its pipe was left unread while the log writer caught up.
        let scrape = try RawHTTPClient(port: adminPort, timeout: 10).request("GET", "/metrics").text
        let pauses = scrape.firstMatch(of: #/\nalbatross_function_output_pauses_total (\d+)/#).flatMap { Int($0.1) }
        #expect((pauses ?? 0) > 0, "pauses: \(pauses.map(String.init) ?? "no such metric")")
        print(
            "flood: \(floodLines.count) lines, \(flood.text), \(pauses ?? 0) pauses, RSS \(before / 1024) MB, "
                + "growth \(growthKB / 1024) MB")

        let outcome = await server.stop()
        #expect(outcome.status == 0)
    }

    /// INIT's output still held when INIT ends (the console stopped throughout, as in the burst above): it is read
    /// when the runtime asks for its first event, so all of it comes before the first invoke's START.
    @Test func outputHeldWhenInitEndsComesBeforeTheFirstStart() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TestFunctions.writeBash(
            in: dir, name: "chatty", handler: TestFunctions.albResponse(body: "hi"),
            initScript: "seq 1 \(Self.burstLines) >&2; sleep 0.5; seq -f 'init-tail-%g' 1 1000 >&2")
        let config = try dir.write(
            "serve.yaml",
            """
            dataDirectory: ./data
            functions:
              - {name: chatty, runtime: provided.al2023, handler: h, code: ./chatty, timeout: 60}
            targetGroups:
              - {name: chatty-tg, function: chatty}
            listeners:
              - port: 0
                defaultAction: {forward: chatty-tg}
            """)
        let (server, console) = try await Self.serveWithConsole(config)
        defer { server.cleanUp() }
        defer { kill(console, SIGCONT) }
        kill(console, SIGSTOP)
        let port = server.port
        let first = try await offPool { try RawHTTPClient(port: port, timeout: 60).request("GET", "/") }
        kill(console, SIGCONT)
        #expect(first.status == 200 && first.text == "hi", "\(first.status) \(first.text)")
        let group = dir.url("data/aws/lambda/chatty")
        var messages: [Substring] = []
        #expect(
            await eventually(seconds: 60) {
                messages = Self.messages(in: group)
                return messages.contains { $0.hasPrefix("REPORT ") }
            })
        let initStart = try #require(messages.firstIndex { $0.hasPrefix("INIT_START ") })
        let start = try #require(messages.firstIndex { $0.hasPrefix("START ") })
        let initLines = messages[(initStart + 1)..<max(initStart + 1, start)].filter { !$0.hasPrefix("INIT_REPORT") }
        let expected = (1...Self.burstLines).map(String.init) + (1...1000).map { "init-tail-\($0)" }
        #expect(
            initLines.map(String.init) == expected,
            "\(initLines.count) lines before START, of \(expected.count); last: \(initLines.suffix(2))")
        let outcome = await server.stop()
        #expect(outcome.status == 0)
    }

    /// `serve` with its standard output through a `cat` (its child) to the test: the console to stop (SIGSTOP) and
    /// let go (SIGCONT); the server and that `cat`'s pid.
    static func serveWithConsole(_ config: String) async throws -> (ServeProcess, Int32) {
        let server = try await ServeProcess.start(
            configPath: config, wrapper: ["/bin/bash", "-c", #"exec > >(exec cat); exec "$@""#, "bash"])
        guard
            let console = ProcessTree.children(of: server.pid).first(where: {
                (try? String(contentsOfFile: "/proc/\($0)/comm", encoding: .utf8)) == "cat\n"
            })
        else {
            server.cleanUp()
            throw ConsoleMissing()
        }
        return (server, console)
    }

    struct ConsoleMissing: Error {}

    /// The messages of every line of a function's log streams, without their timestamps.
    static func messages(in group: String) -> [Substring] {
        guard let files = FileManager.default.enumerator(atPath: group) else { return [] }
        var messages: [Substring] = []
        for case let file as String in files {
            let text = (try? String(contentsOfFile: "\(group)/\(file)", encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty {
                let space = line.firstIndex(of: " ") ?? line.startIndex
                messages.append(line[line.index(after: space)...])
            }
        }
        return messages
    }

    /// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`).
    static func memoryKB(pid: Int32, field: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("\(field):") })
        else { return nil }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    }
}
