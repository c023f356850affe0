import AlbatrossTestKit
import Foundation
import Glibc
import Testing

@testable import Environments

/// The records of running runtimes in `<data>/run` and the clean-up after a killed server (issue 8, item 7), on
/// real processes started by ``ProcessLauncher``.
@Suite(.serialized)
struct EnvironmentRunRecordsTests {
    @Test func statFieldsAreReadAfterACommandNameWithParenthesesAndSpaces() throws {
        let line = "4242 (a) b (c) S 1 4240 4100 0 -1 4194560 99 0 0 0 1 2 0 0 20 0 1 0 123456 2048 3 1 2 3\n"
        let stat = try #require(EnvironmentRunRecords.parseStat(line, pid: 4242))
        #expect(stat == .init(pid: 4242, state: "S", processGroup: 4240, session: 4100, startTime: 123_456))
        #expect(EnvironmentRunRecords.parseStat("4242 (truncated", pid: 4242) == nil)
        let own = try #require(EnvironmentRunRecords.stat(of: getpid()))
        #expect(own.processGroup == getpgrp() && own.session == getsid(0))
    }

    @Test func aRecordIsAStableLine() throws {
        let process = EnvironmentRunRecords.ProcessStat(
            pid: 10, state: "?", processGroup: 10, session: 3, startTime: 77)
        let record = EnvironmentRunRecords.Record(process: process, serverPID: 9, serverStartTime: 70)
        #expect(record.line == "10 10 3 77 9 70\n")
        #expect(EnvironmentRunRecords.Record(line: record.line) == record)
        #expect(EnvironmentRunRecords.Record(line: "10 10 3 77") == nil)
    }

    @Test func membersAreNeverThoseOfAReusedPid() {
        let record = EnvironmentRunRecords.Record(
            process: .init(pid: 50, state: "?", processGroup: 50, session: 5, startTime: 1000), serverPID: 1,
            serverStartTime: 1)
        let leader = EnvironmentRunRecords.ProcessStat(
            pid: 50, state: "S", processGroup: 50, session: 5, startTime: 1000)
        let child = EnvironmentRunRecords.ProcessStat(
            pid: 51, state: "S", processGroup: 50, session: 5, startTime: 1010)
        let zombie = EnvironmentRunRecords.ProcessStat(
            pid: 52, state: "Z", processGroup: 50, session: 5, startTime: 1010)
        let stranger = EnvironmentRunRecords.ProcessStat(
            pid: 53, state: "S", processGroup: 53, session: 5, startTime: 1010)
        #expect(EnvironmentRunRecords.members(of: record, in: [leader, child, zombie, stranger]) == [50, 51])
        #expect(EnvironmentRunRecords.members(of: record, in: [child]) == [51], "the runtime died, its child did not")
        var reused = leader
        reused.startTime = 5000
        #expect(EnvironmentRunRecords.members(of: record, in: [reused, child]) == [], "pid 50 is someone else's now")
        var otherSession = child
        otherSession.session = 6
        #expect(EnvironmentRunRecords.members(of: record, in: [otherSession]) == [])
        var older = child
        older.startTime = 999
        #expect(EnvironmentRunRecords.members(of: record, in: [older]) == [], "started before the runtime")
    }

    /// A runtime started as the server starts them (own group), with a child left in its group.
    static func launchLeaver() throws -> (leader: pid_t, child: pid_t, outputFD: Int32) {
        let process = try ProcessLauncher.launch(
            executable: "/bin/sh", arguments: ["-c", "sleep 600 & echo $!; exec sleep 600"],
            environment: ["PATH=/usr/bin:/bin"], workingDirectory: "/")
        var byte: UInt8 = 0
        var text = ""
        while read(process.outputFD, &byte, 1) == 1, byte != 10 { text.append(Character(UnicodeScalar(byte))) }
        return (process.pid, try #require(pid_t(text)), process.outputFD)
    }

    static func reap(_ pid: pid_t) {
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
    }

    @Test func leftoversOfAServerThatIsGoneAreKilledAndTheirRecordsRemoved() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let records = EnvironmentRunRecords(directory: dir.url("run"))
        let (leader, child, fd) = try Self.launchLeaver()
        defer {
            close(fd)
            kill(-leader, SIGKILL)
        }
        records.record(leader)
        let text = try String(contentsOfFile: dir.url("run/\(leader)"), encoding: .utf8)
        let record = try #require(EnvironmentRunRecords.Record(line: text))
        #expect(record.process.pid == leader && record.process.processGroup == leader)
        #expect(record.serverPID == getpid(), "the server that started it")

        #expect(records.cleanUpLeftovers() == [], "its server (this process) still runs: left alone")
        #expect(ProcessTree.exists(child))

        // The same record, written by a server that is gone (pid 1 never has that start time).
        var dead = record
        dead.serverPID = 1
        dead.serverStartTime = UInt64.max
        try dead.line.write(toFile: dir.url("run/\(leader)"), atomically: true, encoding: .utf8)
        #expect(records.cleanUpLeftovers() == [.init(processGroup: leader, killed: [leader, child].sorted())])
        Self.reap(leader)
        #expect(await eventually(seconds: 5) { ProcessTree.isGone(child) })
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.url("run")).isEmpty, "records removed")
        records.remove(leader)
    }

    @Test func aRecordWhosePidWasReusedKillsNothing() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let records = EnvironmentRunRecords(directory: dir.url("run"))
        let (leader, child, fd) = try Self.launchLeaver()
        defer {
            close(fd)
            kill(-leader, SIGKILL)
            Self.reap(leader)
        }
        let stat = try #require(EnvironmentRunRecords.stat(of: leader))
        var process = stat
        process.startTime = stat.startTime + 1  // an older runtime that had this pid
        let record = EnvironmentRunRecords.Record(process: process, serverPID: 1, serverStartTime: UInt64.max)
        try FileManager.default.createDirectory(atPath: dir.url("run"), withIntermediateDirectories: true)
        try record.line.write(toFile: dir.url("run/\(leader)"), atomically: true, encoding: .utf8)
        #expect(records.cleanUpLeftovers() == [.init(processGroup: leader, killed: [])])
        #expect(ProcessTree.exists(leader) && ProcessTree.exists(child), "not ours: left alone")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.url("run")).isEmpty)
    }

    /// A step that fails between fork and exec reports its own errno (through a close-on-exec pipe).
    @Test func launchFailuresNameTheirCause() {
        #expect(throws: LaunchError.self) {
            try ProcessLauncher.launch(
                executable: "/nonexistent/bootstrap", arguments: [], environment: [], workingDirectory: "/")
        }
        do {
            _ = try ProcessLauncher.launch(
                executable: "/bin/true", arguments: [], environment: [], workingDirectory: "/nonexistent-dir")
            Issue.record("a missing working directory must fail the launch")
        } catch {
            #expect("\(error)".contains("No such file or directory"), "\(error)")
        }
    }

    /// PR_SET_PDEATHSIG fires when the *thread* that forked the runtime ends: why the server spawns only on the
    /// long-lived threads of its pool. Here a short-lived thread spawns, ends, and the runtime gets SIGKILL.
    @Test func aRuntimeGetsSIGKILLWhenTheThreadThatStartedItEnds() async throws {
        let process = try await onThreads(1) { _ in
            try ProcessLauncher.launch(
                executable: "/bin/sleep", arguments: ["600"], environment: [], workingDirectory: "/")
        }[0]
        defer { close(process.outputFD) }
        var status: Int32 = 0
        let reaped = await eventually(seconds: 10) { waitpid(process.pid, &status, WNOHANG) == process.pid }
        if !reaped {
            kill(process.pid, SIGKILL)
            Self.reap(process.pid)
        }
        #expect(reaped, "the runtime ended with the thread")
        #expect(status & 0x7f == SIGKILL, "killed by the parent-death signal, status \(status)")
    }

    @Test func aLaunchedRuntimeHasAFreshProcessState() throws {
        let process = try ProcessLauncher.launch(
            executable: "/bin/sh",
            arguments: ["-c", "grep -E '^(SigIgn|SigBlk)' /proc/self/status; ls /proc/self/fd | tr '\\n' ' '"],
            environment: [], workingDirectory: "/tmp")
        defer { close(process.outputFD) }
        var output = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(process.outputFD, &buffer, buffer.count)
            if n <= 0 { break }
            output += buffer[..<n]
        }
        Self.reap(process.pid)
        let text = String(decoding: output, as: UTF8.self)
        #expect(text.contains("SigIgn:\t0000000000000000"), "default dispositions: \(text)")
        #expect(text.contains("SigBlk:\t0000000000000000"), "empty mask: \(text)")
        // ls itself has 0-2 and the directory it lists (3).
        #expect(text.hasSuffix("0 1 2 3 "), "no descriptor of the server leaked: \(text)")
    }
}
