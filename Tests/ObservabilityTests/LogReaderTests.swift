import Foundation
import LambdaModel
import NIOCore
import Testing

@testable import InvocationModel
@testable import Observability

/// A scratch data directory for stream files this suite writes itself.
final class ScratchDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "albatross-logs-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Appends `lines` to `<data>/<group>/<stream>`.
    func append(group: String = "/aws/lambda/f", stream: String, _ lines: [String]) throws {
        let file = LogGroupPaths.directory(dataDirectory: path, groupName: group) + "/" + stream
        try FileManager.default.createDirectory(
            atPath: String(file[..<file.lastIndex(of: "/")!]), withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: file) {
            _ = FileManager.default.createFile(atPath: file, contents: nil)
        }
        let handle = try #require(FileHandle(forWritingAtPath: file))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(lines.map { $0 + "\n" }.joined().utf8))
    }

    /// Sets a file's modification time `ageSeconds` in the past.
    func age(_ relative: String, seconds ageSeconds: Double) throws {
        try FileManager.default.setAttributes(
            [.modificationDate: Date(timeIntervalSinceNow: -ageSeconds)], ofItemAtPath: path + "/" + relative)
    }

    func exists(_ relative: String) -> Bool { FileManager.default.fileExists(atPath: path + "/" + relative) }
}

struct LogReaderTests {
    static let a = "2026/12/01/[$LATEST]aaaa"
    static let b = "2026/12/01/[2]bbbb"
    static let c = "2026/11/30/[3]cccc"

    static func ms(_ text: String) -> Int64 { LogTime.parseISO8601(text)! }

    @Test func linesOfAllStreamsAreMergedInTimeOrder() throws {
        let data = try ScratchDirectory()
        try data.append(stream: Self.a, ["2026-12-01T10:00:00.000Z a1", "2026-12-01T10:00:02.000Z a2"])
        try data.append(stream: Self.b, ["2026-12-01T10:00:01.000Z b1", "2026-12-01T10:00:02.000Z b2"])
        try data.append(
            stream: Self.c, ["2026-12-01T09:59:59.999Z c1", "not a log line", "2026-12-01T10:00:03.500Z c2"])
        let reader = LogGroupReader(dataDirectory: data.path, groupName: "/aws/lambda/f", query: LogQuery())
        #expect(reader.streamNames() == [Self.c, Self.a, Self.b])
        let events = reader.read()
        #expect(events.map(\.message) == ["c1", "a1", "b1", "a2", "b2", "c2"], "equal times: by stream name")
        #expect(events[0].streamName == Self.c && events[0].groupName == "/aws/lambda/f")
        #expect(events[0].timestamp == Self.ms("2026-12-01T09:59:59.999Z"))
        #expect(
            events[0].detailedLine == "2026-12-01T09:59:59.999000+00:00 2026/11/30/[3]cccc c1",
            "aws logs tail's detailed format")
        #expect(reader.read().isEmpty, "nothing new")
    }

    @Test func aStreamKeepsItsFileOrderWhenATimestampIsBehind() throws {
        let data = try ScratchDirectory()
        try data.append(stream: Self.a, ["2026-12-01T10:00:00.031Z INIT_START", "2026-12-01T10:00:00.030Z START"])
        try data.append(stream: Self.b, ["2026-12-01T10:00:00.030Z other"])
        let reader = LogGroupReader(dataDirectory: data.path, groupName: "/aws/lambda/f", query: LogQuery())
        #expect(reader.read().map(\.message) == ["other", "INIT_START", "START"])
    }

    @Test func followingReturnsOnlyNewLinesAndNewStreams() throws {
        let data = try ScratchDirectory()
        try data.append(stream: Self.a, ["2026-12-01T10:00:00.000Z a1"])
        let reader = LogGroupReader(dataDirectory: data.path, groupName: "/aws/lambda/f", query: LogQuery())
        #expect(reader.read().map(\.message) == ["a1"])
        // A partial line waits for its newline.
        let file = data.path + "/aws/lambda/f/" + Self.a
        let handle = try #require(FileHandle(forWritingAtPath: file))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("2026-12-01T10:00:01.000Z a2 part".utf8))
        #expect(reader.read().isEmpty)
        try handle.write(contentsOf: Data(" two\n".utf8))
        try handle.close()
        try data.append(stream: Self.b, ["2026-12-01T10:00:00.500Z b1"])
        #expect(reader.read().map(\.message) == ["b1", "a2 part two"])
    }

    @Test func sinceFilterAndVersionsSelect() throws {
        let data = try ScratchDirectory()
        try data.append(stream: Self.a, ["2026-12-01T10:00:00.000Z START a", "2026-12-01T10:05:00.000Z ERROR a"])
        try data.append(stream: Self.b, ["2026-12-01T10:01:00.000Z ERROR b", "2026-12-01T10:06:00.000Z error b"])
        try data.append(stream: Self.c, ["2026-12-01T10:07:00.000Z ERROR c"])
        func messages(_ query: LogQuery) -> [String] {
            LogGroupReader(dataDirectory: data.path, groupName: "/aws/lambda/f", query: query).read().map(\.message)
        }
        let since = Self.ms("2026-12-01T10:05:00Z")
        #expect(messages(LogQuery(sinceMs: since)) == ["ERROR a", "error b", "ERROR c"], "since is inclusive")
        #expect(messages(LogQuery(filter: "ERROR")) == ["ERROR b", "ERROR a", "ERROR c"], "case-sensitive substring")
        #expect(messages(LogQuery(versions: ["2"])) == ["ERROR b", "error b"])
        #expect(messages(LogQuery(versions: ["$LATEST", "3"])) == ["START a", "ERROR a", "ERROR c"])
        #expect(messages(LogQuery(sinceMs: since, filter: "ERROR", versions: ["$LATEST", "2"])) == ["ERROR a"])
        let missing = LogGroupReader(dataDirectory: data.path, groupName: "/aws/lambda/none", query: LogQuery())
        #expect(missing.read().isEmpty && missing.streamNames().isEmpty)
    }

    @Test func jsonLinesParseWithTheEventsFields() throws {
        let event = LogEvent(
            groupName: "/aws/lambda/f", streamName: Self.a, timestamp: 1_796_119_200_123,
            message: "say \"hi\"\tback\\slash \u{1}\r{\"k\":1}")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(event.jsonLine.utf8)) as? [String: Any])
        #expect(object["logGroupName"] as? String == "/aws/lambda/f")
        #expect(object["logStreamName"] as? String == Self.a)
        #expect(object["timestamp"] as? Int == 1_796_119_200_123)
        #expect(object["message"] as? String == event.message)
        #expect(!event.jsonLine.contains("\n"))
    }

    @Test(arguments: [
        ("2026-12-01", "2026-12-01T00:00:00.000Z"),
        ("2026-12-01T12:30", "2026-12-01T12:30:00.000Z"),
        ("2026-12-01T12:30:05Z", "2026-12-01T12:30:05.000Z"),
        ("2026-12-01T12:30:05.123456Z", "2026-12-01T12:30:05.123Z"),
        ("2026-12-01 12:30:05+01:30", "2026-12-01T11:00:05.000Z"),
        ("2026-12-01T00:30:00-01:00", "2026-12-01T01:30:00.000Z"),
        ("2000-02-29T23:59:59.999Z", "2000-02-29T23:59:59.999Z"),
    ])
    func iso8601Parses(text: String, utc: String) {
        let parsed = LogTime.parseISO8601(text)
        #expect(parsed.map { CivilDate.iso8601(epochMilliseconds: $0) } == utc)
    }

    @Test func sinceTakesRelativeUnitsOrATime() {
        let now: Int64 = 1_796_119_200_000
        #expect(LogTime.parseSince("30s", nowMs: now) == now - 30_000)
        #expect(LogTime.parseSince("10m", nowMs: now) == now - 600_000)
        #expect(LogTime.parseSince("2h", nowMs: now) == now - 7_200_000)
        #expect(LogTime.parseSince("1d", nowMs: now) == now - 86_400_000)
        #expect(LogTime.parseSince("1w", nowMs: now) == now - 604_800_000)
        #expect(LogTime.parseSince("2026-12-01T12:00:00Z", nowMs: now) == Self.ms("2026-12-01T12:00:00.000Z"))
        for bad in ["", "m", "10", "5h30m", "10x", "-5m", "2026-13-01", "2026-12-01T25:00", "yesterday"] {
            #expect(LogTime.parseSince(bad, nowMs: now) == nil, "\(bad)")
        }
        #expect(LogTime.detailed(Self.ms("2026-12-01T12:00:00.042Z")) == "2026-12-01T12:00:00.042000+00:00")
    }
}

struct LogRetentionTests {
    @Test func oldStreamsGoByTheirGroupsRetentionThenTheOldestBySize() throws {
        let data = try ScratchDirectory()
        let line = ["2026-12-01T10:00:00.000Z " + String(repeating: "x", count: 974)]  // 1000 bytes with the newline
        try data.append(group: "/aws/lambda/f", stream: "2026/11/01/[$LATEST]old", line)
        try data.append(group: "/aws/lambda/f", stream: "2026/11/28/[$LATEST]recent", line)
        try data.append(group: "/aws/lambda/g", stream: "2026/11/20/[1]tenDays", line)
        try data.append(group: "/aws/lambda/g", stream: "2026/12/01/[1]new", line)
        try data.append(group: "custom/group", stream: "2026/11/01/[$LATEST]custom", line)
        try data.age("aws/lambda/f/2026/11/01/[$LATEST]old", seconds: 30 * 86400)
        try data.age("aws/lambda/f/2026/11/28/[$LATEST]recent", seconds: 3 * 86400)
        try data.age("aws/lambda/g/2026/11/20/[1]tenDays", seconds: 10 * 86400)
        try data.age("custom/group/2026/11/01/[$LATEST]custom", seconds: 30 * 86400)
        try data.append(group: "/aws/lambda/f", stream: "notAStream", [])

        // f keeps 7 days, g and the custom group have the default of 14 (the custom group is known by name).
        let policy = LogRetentionPolicy(
            defaultRetentionDays: 14, groupRetentionDays: ["/aws/lambda/f": 7, "custom/group": 14])
        let report = LogRetention.sweep(dataDirectory: data.path, policy: policy)
        #expect(
            Set(report.removedForAge)
                == ["/aws/lambda/f/2026/11/01/[$LATEST]old", "custom/group/2026/11/01/[$LATEST]custom"])
        #expect(report.removedForSize.isEmpty && report.remainingBytes == 3000)
        #expect(!data.exists("aws/lambda/f/2026/11/01"), "an emptied day directory goes too")
        #expect(data.exists("aws/lambda/f/2026/11/28/[$LATEST]recent"))
        #expect(data.exists("aws/lambda/g/2026/11/20/[1]tenDays"))
        #expect(data.exists("aws/lambda/f/notAStream"), "only stream files are touched")

        // A bound of 2500 bytes removes the least recently written stream (tenDays), then stops.
        let bounded = LogRetention.sweep(
            dataDirectory: data.path, policy: LogRetentionPolicy(maxTotalBytes: 2500))
        #expect(bounded.removedForAge.isEmpty)
        #expect(bounded.removedForSize == ["/aws/lambda/g/2026/11/20/[1]tenDays"])
        #expect(bounded.remainingBytes == 2000)
        #expect(data.exists("aws/lambda/g/2026/12/01/[1]new") && data.exists("aws/lambda/f/2026/11/28/[$LATEST]recent"))
    }

    @Test func aPolicyComesFromTheFunctionsLoggingConfigs() {
        let code = CodeLocation.directory("/tmp")
        let functions = [
            FunctionConfiguration(
                name: "a", runtime: .init(identifier: "provided")!, handler: "h", code: code,
                logging: .init(retentionInDays: 7)),
            FunctionConfiguration(name: "b", runtime: .init(identifier: "provided")!, handler: "h", code: code),
            FunctionConfiguration(
                name: "c", runtime: .init(identifier: "provided")!, handler: "h", code: code,
                logging: .init(logGroup: "shared/group", retentionInDays: 30)),
            FunctionConfiguration(
                name: "d", runtime: .init(identifier: "provided")!, handler: "h", code: code,
                logging: .init(logGroup: "shared/group", retentionInDays: 60)),
        ]
        let policy = LogRetentionPolicy(functions: functions, defaultRetentionDays: 14, maxTotalBytes: 100)
        #expect(policy.groupRetentionDays == ["/aws/lambda/a": 7, "/aws/lambda/b": 14, "shared/group": 60])
        #expect(policy.defaultRetentionDays == 14 && policy.maxTotalBytes == 100)
    }

    @Test func theSweeperSweepsOnItsThreadUntilStopped() async throws {
        let data = try ScratchDirectory()
        try data.append(stream: "2026/11/01/[$LATEST]old", ["2026-11-01T10:00:00.000Z x"])
        try data.age("aws/lambda/f/2026/11/01/[$LATEST]old", seconds: 3 * 86400)
        let sweeper = LogRetentionSweeper(
            dataDirectory: data.path, policy: LogRetentionPolicy(defaultRetentionDays: 1), intervalSeconds: 0.05)
        sweeper.start()
        let deadline = Date().addingTimeInterval(10)
        while sweeper.completedSweeps < 3 && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        sweeper.stop()
        #expect(sweeper.completedSweeps >= 3)
        #expect(!data.exists("aws/lambda/f/2026/11/01/[$LATEST]old"))
        try await Task.sleep(for: .milliseconds(200))
        let after = sweeper.completedSweeps
        try await Task.sleep(for: .milliseconds(200))
        #expect(sweeper.completedSweeps == after, "stopped")
    }
}

/// The log writer fed real events for a JSON-format environment: the `platform.*` records of runtime-api.md §4.3
/// with the reference's field names; a text environment keeps START/END/REPORT.
struct PlatformRecordTests {
    static func events(_ stream: LogStreamName, requestID: String) -> [InvocationEvent] {
        let now = NIODeadline.now()
        return [
            InvocationEvent(
                requestID: requestID,
                detail: .initStarted(
                    .init(
                        environment: stream, version: "$LATEST",
                        runtimeVersion: "python:3.12.v1\tRuntime Version ARN: arn:aws:lambda:local::runtime:x",
                        pid: nil, createdAt: now))),
            InvocationEvent(
                requestID: requestID,
                detail: .initFinished(.init(environment: stream, durationMs: 12.5, result: .ready))),
            InvocationEvent(
                requestID: requestID,
                detail: .invokeStarted(.init(environment: stream, version: "$LATEST", receivedAt: now))),
            InvocationEvent(requestID: requestID, detail: .output(.init(environment: stream, line: "hello"))),
            InvocationEvent(
                requestID: requestID,
                detail: .invokeFinished(
                    .init(
                        environment: stream, version: "$LATEST", memorySizeMB: 256, initDurationMs: 12.5,
                        durationMs: 3.456, billedDurationMs: 16, overheadMs: 0.1, status: "error",
                        errorType: "Function.Unhandled", errorMessage: nil, timeoutSeconds: 3, pid: nil,
                        receivedAt: now, deliveredAt: now))),
        ]
    }

    static func lines(
        format: LoggingConfiguration.LogFormat, level: LoggingConfiguration.SystemLogLevel? = nil
    )
        throws -> [String]
    {
        let data = try ScratchDirectory()
        let stream = LogStreamName(
            functionName: "f", version: "$LATEST", epochSeconds: 1_796_119_200, hex: "ab", id: 9000,
            format: format, systemLogLevel: level)
        let sink = LogSink(dataDirectory: data.path)
        sink.receive(events(stream, requestID: "req-1"))
        sink.shutdown()
        let reader = LogGroupReader(dataDirectory: data.path, groupName: "/aws/lambda/f", query: LogQuery())
        return reader.read().map(\.message)
    }

    @Test func jsonStreamsGetPlatformRecords() throws {
        let lines = try Self.lines(format: .json)
        #expect(lines.count == 5, "\(lines)")
        #expect(lines[2] == "hello", "function output stays as the runtime wrote it")
        let objects = try lines.enumerated().filter { $0.offset != 2 }.map { _, line in
            try #require(try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
        }
        let types = objects.compactMap { $0["type"] as? String }
        #expect(types == ["platform.initStart", "platform.start", "platform.runtimeDone", "platform.report"])
        let initStart = try #require(objects[0]["record"] as? [String: Any])
        #expect(initStart["initializationType"] as? String == "on-demand")
        #expect(initStart["phase"] as? String == "init")
        #expect(initStart["runtimeVersion"] as? String == "python:3.12.v1")
        #expect(initStart["runtimeVersionArn"] as? String == "arn:aws:lambda:local::runtime:x")
        let start = try #require(objects[1]["record"] as? [String: Any])
        #expect(start["requestId"] as? String == "req-1" && start["version"] as? String == "$LATEST")
        let report = try #require(objects[3]["record"] as? [String: Any])
        #expect(report["requestId"] as? String == "req-1")
        #expect(report["status"] as? String == "error")
        #expect(report["errorType"] as? String == "Function.Unhandled")
        let metrics = try #require(report["metrics"] as? [String: Any])
        #expect(metrics["durationMs"] as? Double == 3.46)
        #expect(metrics["billedDurationMs"] as? Int == 16)
        #expect(metrics["memorySizeMB"] as? Int == 256)
        #expect(metrics["maxMemoryUsedMB"] as? Int == 0)
        #expect(metrics["initDurationMs"] as? Double == 12.5)
        let time = try #require(objects[3]["time"] as? String)
        #expect(LogTime.parseISO8601(time) != nil && time.hasSuffix("Z"))
    }

    @Test func aCustomGroupIsItsOwnDirectory() throws {
        let data = try ScratchDirectory()
        let stream = LogStreamName(
            functionName: "f", version: "4", epochSeconds: 1_796_119_200, hex: "cd", id: 9001, groupName: "/team/f")
        let sink = LogSink(dataDirectory: data.path)
        sink.receive(Self.events(stream, requestID: "req-2"))
        sink.shutdown()
        #expect(sink.path(of: stream) == data.path + "/team/f/2026/12/01/[4]cd")
        #expect(data.exists("team/f/2026/12/01/[4]cd") && !data.exists("aws/lambda/f"))
        let reader = LogGroupReader(dataDirectory: data.path, groupName: "/team/f", query: LogQuery(versions: ["4"]))
        #expect(reader.read().map(\.message).contains("START RequestId: req-2 Version: $LATEST"))
    }

    @Test func warnLeavesOnlyTheFunctionsOutputAndTextKeepsTheLines() throws {
        #expect(try Self.lines(format: .json, level: .warn) == ["hello"])
        let text = try Self.lines(format: .text)
        #expect(text.count == 5, "\(text)")
        #expect(text[0].hasPrefix("INIT_START Runtime Version: python:3.12.v1\t"))
        #expect(text[1] == "START RequestId: req-1 Version: $LATEST")
        #expect(text[2] == "hello")
        #expect(text[3] == "END RequestId: req-1")
        #expect(
            text[4].hasPrefix("REPORT RequestId: req-1\tDuration: 3.46 ms\t") && text[4].hasSuffix("Status: error\t"))
    }
}
