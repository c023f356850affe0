import AlbatrossTestKit
import Foundation
import Glibc
import Invocation
import InvocationModel
import LambdaModel
import Testing

@testable import Environments

/// The control group of each environment (issue 12 items 2 and 4, issue 8 item 8): the pure layout and parsers,
/// then real runtimes in real groups (this machine and CI have cgroup v1 as root; the integration tests are
/// skipped where the kernel offers neither version).
@Suite(.serialized)
struct ControlGroupsTests {
    // MARK: pure

    @Test func procCgroupNamesTheGroupOfEachControllerAndTheUnifiedOne() {
        let text = """
            9:name=systemd:/
            6:freezer:/
            4:memory:/process_api/955c
            1:cpu,cpuacct:/a b
            0::/user.slice/app.scope
            """
        let groups = ControlGroups.parseProcCgroup(text)
        #expect(groups["memory"] == "/process_api/955c")
        #expect(groups["freezer"] == "/")
        #expect(groups["cpuacct"] == "/a b")
        #expect(groups[""] == "/user.slice/app.scope")
    }

    @Test func mountInfoGivesEachHierarchyWithItsRootAndControllers() throws {
        let text = """
            31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
            35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
            37 31 0:34 /sub /sys/fs/cgroup/free\\040zer rw,relatime shared:5 - cgroup cgroup rw,freezer
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
            """
        let mounts = ControlGroups.parseMountInfo(text)
        #expect(mounts.count == 3)
        let freezer = try #require(mounts.first { $0.options.contains("freezer") })
        #expect(freezer.root == "/sub" && freezer.mountPoint == "/sys/fs/cgroup/free zer" && freezer.type == "cgroup")
        #expect(mounts.last?.type == "cgroup2")
        // A group is found below the mounted root, and only there.
        #expect(ControlGroups.directory(of: "/sub/x", in: freezer) == "/sys/fs/cgroup/free zer/x")
        #expect(ControlGroups.directory(of: "/sub", in: freezer) == "/sys/fs/cgroup/free zer")
        #expect(ControlGroups.directory(of: "/other", in: freezer) == nil)
        #expect(ControlGroups.directory(of: "/", in: mounts[0]) == "/sys/fs/cgroup/memory")
        #expect(ControlGroups.directory(of: "/a/b", in: mounts[0]) == "/sys/fs/cgroup/memory/a/b")
    }

    @Test func parentNamesIdentifyTheirServer() throws {
        let name = ControlGroups.parentName(pid: 4242, startTime: 99, sequence: 3)
        #expect(name == "albatross-4242-99-3")
        let server = try #require(ControlGroups.server(ofGroupNamed: name))
        #expect(server.pid == 4242 && server.startTime == 99)
        #expect(ControlGroups.server(ofGroupNamed: "albatross-4242-99-server")?.pid == 4242)
        #expect(ControlGroups.server(ofGroupNamed: "albatross-x-99-1") == nil)
        #expect(ControlGroups.server(ofGroupNamed: "system.slice") == nil)
    }

    @Test func eachVersionHasItsFiles() {
        let v2 = ControlGroups(version: .v2, parents: ["/cg/albatross-1-2-0"]).group(named: "abc")
        #expect(v2.directories == ["/cg/albatross-1-2-0/env-abc"])
        #expect(v2.joinFiles == ["/cg/albatross-1-2-0/env-abc/cgroup.procs"])
        #expect(v2.freezeFile == "/cg/albatross-1-2-0/env-abc/cgroup.freeze")
        #expect(ControlGroup.freezeContent(.v2, frozen: true) == "1")
        #expect(v2.peakFile == "/cg/albatross-1-2-0/env-abc/memory.peak")
        #expect(v2.oomFile == "/cg/albatross-1-2-0/env-abc/memory.events")
        let v2Limits = v2.memoryLimitWrites(bytes: 134_217_728).map { "\($0.file)=\($0.content)" }
        #expect(
            v2Limits == [
                "/cg/albatross-1-2-0/env-abc/memory.max=134217728", "/cg/albatross-1-2-0/env-abc/memory.swap.max=0",
                "/cg/albatross-1-2-0/env-abc/memory.oom.group=1",
            ])
        let v1 = ControlGroups(version: .v1, parents: ["/m/p", "/f/p"]).group(named: "abc")
        #expect(v1.joinFiles == ["/m/p/env-abc/cgroup.procs", "/f/p/env-abc/cgroup.procs"])
        #expect(v1.freezeFile == "/f/p/env-abc/freezer.state")
        #expect(ControlGroup.freezeContent(.v1, frozen: false) == "THAWED")
        #expect(v1.peakFile == "/m/p/env-abc/memory.max_usage_in_bytes")
        #expect(v1.oomFile == "/m/p/env-abc/memory.oom_control")
        let v1Limits = v1.memoryLimitWrites(bytes: 1024).map { "\($0.file)=\($0.content)=\($0.required)" }
        #expect(
            v1Limits == [
                "/m/p/env-abc/memory.limit_in_bytes=1024=true", "/m/p/env-abc/memory.memsw.limit_in_bytes=1024=false",
            ])
        // v1 always has its memory hierarchy, whatever the argument says.
        #expect(ControlGroups(version: .v1, parents: ["/m/p", "/f/p"], limitsMemory: false).limitsMemory)
    }

    /// A unified hierarchy without the memory controller: the group freezes, kills and lists the tree, and has
    /// nothing to do with memory (the environment then sets RLIMIT_AS).
    @Test func v2WithoutTheMemoryControllerOnlyFreezesAndKills() {
        let groups = ControlGroups(version: .v2, parents: ["/cg/albatross-1-2-0"], limitsMemory: false)
        #expect(!groups.limitsMemory)
        #expect(
            groups.summary
                == "cgroup v2 (/cg/albatross-1-2-0) without the memory controller; memory limited by a watch and RLIMIT_AS"
        )
        #expect(ControlGroups(version: .v2, parents: ["/cg/p"]).summary == "cgroup v2 (/cg/p)")
        let group = groups.group(named: "abc")
        #expect(!group.limitsMemory)
        #expect(group.joinFiles == ["/cg/albatross-1-2-0/env-abc/cgroup.procs"])
        #expect(group.freezeFile == "/cg/albatross-1-2-0/env-abc/cgroup.freeze")
        #expect(group.processesFile == "/cg/albatross-1-2-0/env-abc/cgroup.procs")
        #expect(group.memoryLimitWrites(bytes: 134_217_728).isEmpty)
        #expect(group.peakFile == nil && group.oomFile == nil)
        #expect(group.peakBytes() == nil && group.outOfMemoryKills() == 0)
    }

    @Test func keyedFilesAreRead() {
        #expect(ControlGroups.keyedValue("oom_kill", in: "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n") == 3)
        #expect(ControlGroups.keyedValue("oom_kill", in: "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n") == 1)
        #expect(ControlGroups.keyedValue("frozen", in: "populated 1\nfrozen 0\n") == 0)
        #expect(ControlGroups.keyedValue("oom_kill", in: "oom 2\n") == nil)
    }

    // MARK: real groups

    static let available: Bool = {
        let detection = ControlGroups.detect()
        detection.groups?.removeParents()
        return detection.groups != nil
    }()

    /// The group directories of a live process, from /proc/<pid>/cgroup: (memory, freezer) for v1, the
    /// unified one twice for v2.
    static func groupDirectories(of pid: Int32) -> (memory: String, freezer: String)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8),
            let mounts = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        else { return nil }
        let groups = ControlGroups.parseProcCgroup(text)
        let all = ControlGroups.parseMountInfo(mounts)
        func dir(_ controller: String) -> String? {
            if let path = groups[controller],
                let mount = all.first(where: { $0.type == "cgroup" && $0.options.contains(controller) })
            {
                return ControlGroups.directory(of: path, in: mount)
            }
            if let path = groups[""], let mount = all.first(where: { $0.type == "cgroup2" }) {
                return ControlGroups.directory(of: path, in: mount)
            }
            return nil
        }
        guard let memory = dir("memory"), let freezer = dir("freezer") else { return nil }
        return (memory, freezer)
    }

    static func isFrozen(_ directory: String) -> Bool {
        if let state = try? String(contentsOfFile: "\(directory)/freezer.state", encoding: .utf8) {
            return state.hasPrefix("FROZEN")
        }
        let events = (try? String(contentsOfFile: "\(directory)/cgroup.events", encoding: .utf8)) ?? ""
        return ControlGroups.keyedValue("frozen", in: events) == 1
    }

    @Test(.enabled(if: available)) func aSetsidEscapeEndsWithItsEnvironmentAndNoGroupIsLeft() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let pidFile = dir.url("escaped.pid")
        // A new session and process group: out of reach of the process-group kill, not of the control group.
        let code = try TestFunctions.writeBash(
            in: dir, name: "escaper",
            handler: #"setsid bash -c 'echo $$ > "$0"; exec sleep 600' "\#(pidFile)" & sleep 0.3; exit 0"#)
        let harness = try InvokerHarness(
            functions: [EnvironmentLifecycleTests.function("escaper", at: code)], dataDirectory: dir.url("data"))
        let parents = try #require(harness.application.controlGroups.groups?.parents)
        let outcome = try await harness.invoke("escaper")
        #expect(outcome.errorType == "Runtime.ExitError")
        let text = try String(contentsOfFile: pidFile, encoding: .utf8)
        let escaped = try #require(Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        let gone = await eventually(seconds: 5) { ProcessTree.isGone(escaped) }
        if !gone { kill(escaped, SIGKILL) }
        #expect(gone, "the setsid child ended with its environment")
        try await harness.shutdown()
        for parent in parents {
            #expect(!FileManager.default.fileExists(atPath: parent), "\(parent) is removed at shutdown")
        }
    }

    @Test(.enabled(if: available)) func aRuntimeThatAllocatesPastItsMemoryIsOutOfMemoryAndReplaced() async throws {
        // 128 MB: a bash variable doubling in size goes past it in a few steps.
        try await Self.growsPastItsMemory(
            grow: "x=aaaaaaaaaaaaaaaa; while true; do x=\"$x$x\"; done", controlGroups: true, minimumUsedMB: 100,
            why: "the whole group's peak, near the 128 MB limit")
    }

    /// A function of 128 MB whose `{"grow":true}` invoke runs `grow`: that invoke fails with `Runtime.OutOfMemory`
    /// ("signal: killed") within 20 s, its REPORT's `Max Memory Used` is at least `minimumUsedMB`, the runtime is
    /// gone, and the next invoke gets a new environment.
    static func growsPastItsMemory(grow: String, controlGroups: Bool, minimumUsedMB: Int, why: String) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let code = try TestFunctions.writeBash(
            in: dir, name: "grower",
            handler: """
                case "$1" in
                  *grow*) \(grow) ;;
                  *) printf '"pid=%s"' "$$" ;;
                esac
                """)
        let harness = try InvokerHarness(
            functions: [EnvironmentLifecycleTests.function("grower", at: code, timeout: 30)],
            dataDirectory: dir.url("data"), controlGroups: controlGroups)
        let first = try await harness.invoke("grower", #"{"n":1}"#)
        let pid = try #require(EnvironmentLifecycleTests.pidOf(first), "\(first.text)")
        let started = ContinuousClock.now
        let oom = try await harness.invoke("grower", #"{"grow":true}"#, wantsReport: true)
        #expect(oom.errorType == "Runtime.OutOfMemory", "\(oom.text)")
        #expect(oom.text.contains("Error: Runtime exited with error: signal: killed"), "\(oom.text)")
        #expect(ContinuousClock.now - started < .seconds(20), "killed for its memory, not at the invoke's timeout")
        let report = try #require(oom.reportLine)
        #expect((maxMemoryUsedMB(report) ?? 0) >= minimumUsedMB, "\(why): \(report)")
        #expect(await eventually(seconds: 5) { !ProcessTree.exists(pid) })
        let after = try await harness.invoke("grower", #"{"n":2}"#)
        #expect(after.functionError == nil)
        #expect(after.isColdStart, "a new environment")
        #expect(EnvironmentLifecycleTests.pidOf(after) != pid)
        try await harness.shutdown()
    }

    /// `Max Memory Used: N MB` of a REPORT line.
    static func maxMemoryUsedMB(_ report: String) -> Int? {
        report.split(separator: "\t").first { $0.hasPrefix("Max Memory Used: ") }
            .flatMap { Int($0.dropFirst("Max Memory Used: ".count).prefix { $0.isNumber }) }
    }

    @Test(.enabled(if: available)) func anIdleEnvironmentIsFrozenAndThawsToServe() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let code = try TestFunctions.writeBash(
            in: dir, name: "sleeper", handler: #"printf '"pid=%s event=%s"' "$$" "$(printf %s "$1" | tr -d '"')""#)
        let harness = try InvokerHarness(
            functions: [EnvironmentLifecycleTests.function("sleeper", at: code)], dataDirectory: dir.url("data"))
        let first = try await harness.invoke("sleeper", #"{"n":1}"#)
        let pid = try #require(EnvironmentLifecycleTests.pidOf(first))
        let groups = try #require(Self.groupDirectories(of: pid))
        #expect(groups.freezer.contains("/albatross-"), "the runtime is in its environment's group")
        #expect(await eventually(seconds: 5) { Self.isFrozen(groups.freezer) }, "idle: FROZEN")
        for n in 2...4 {
            let next = try await harness.invoke("sleeper", #"{"n":\#(n)}"#)
            #expect(next.text == #""pid=\#(pid) event={n:\#(n)}""#, "thawed and served by the same runtime")
            #expect(await eventually(seconds: 5) { Self.isFrozen(groups.freezer) })
        }
        try await harness.shutdown()
        #expect(!FileManager.default.fileExists(atPath: groups.freezer), "the group is removed")
        #expect(!ProcessTree.exists(pid))
    }

    /// `environments.freezeDelayMs`: an idle environment is frozen only once it has stayed idle that long, so one
    /// that is reused sooner is never frozen, and one left idle still ends up frozen.
    @Test(.enabled(if: available)) func withAFreezeDelayAnEnvironmentIsFrozenOnlyAfterStayingIdle() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let code = try TestFunctions.writeBash(in: dir, name: "sleeper", handler: #"printf '"pid=%s"' "$$""#)
        let harness = try InvokerHarness(
            functions: [EnvironmentLifecycleTests.function("sleeper", at: code)], dataDirectory: dir.url("data"),
            configure: { $0.environments.freezeDelayMs = 1500 })
        let first = try await harness.invoke("sleeper")
        let idleSince = ContinuousClock.now
        let pid = try #require(EnvironmentLifecycleTests.pidOf(first))
        let groups = try #require(Self.groupDirectories(of: pid))
        // Reused within the delay, three times: never frozen meanwhile.
        for _ in 0..<3 {
            try await Task.sleep(for: .milliseconds(200))
            #expect(!Self.isFrozen(groups.freezer), "idle for less than the delay: running")
            #expect(try await harness.invoke("sleeper").text == first.text)
        }
        let lastInvoke = ContinuousClock.now
        #expect(!Self.isFrozen(groups.freezer))
        #expect(await eventually(seconds: 10) { Self.isFrozen(groups.freezer) }, "idle past the delay: FROZEN")
        #expect(ContinuousClock.now - lastInvoke >= .milliseconds(1400), "not before the delay")
        #expect(ContinuousClock.now - idleSince >= .milliseconds(1900))
        let thawed = try await harness.invoke("sleeper")
        #expect(thawed.text == first.text, "thawed and served by the same runtime")
        try await harness.shutdown()
        #expect(!ProcessTree.exists(pid))
    }

    @Test func withoutControlGroupsAnIdleEnvironmentIsStoppedAndItsAddressSpaceLimited() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let code = try TestFunctions.writeBash(
            in: dir, name: "plain",
            handler: #"printf '"pid=%s %s"' "$$" "$(grep 'Max address space' /proc/$$/limits | tr -s ' ')""#)
        let harness = try InvokerHarness(
            functions: [EnvironmentLifecycleTests.function("plain", at: code)], dataDirectory: dir.url("data"),
            controlGroups: false)
        #expect(harness.application.controlGroups.groups == nil)
        #expect(harness.application.controlGroups.summary.hasPrefix("none: disabled by environments.controlGroups"))
        let first = try await harness.invoke("plain")
        let pid = try #require(EnvironmentLifecycleTests.pidOf(first))
        let limit = 2 * 134_217_728 + 2_147_483_648
        #expect(first.text.contains("Max address space \(limit) \(limit) bytes"), "\(first.text)")
        #expect(await eventually(seconds: 5) { ProcessTree.stat(pid)?.state == "T" }, "idle: stopped")
        let second = try await harness.invoke("plain")
        #expect(EnvironmentLifecycleTests.pidOf(second) == pid, "continued and served")
        try await harness.shutdown()
        #expect(!ProcessTree.exists(pid))
    }

    /// Without a memory group, `Max Memory Used` is the summed VmHWM of the runtime and the processes below it
    /// (``ProcessTreeMemory``): here a child holding 150 MB, which the runtime's own VmHWM (a few MB of bash) would
    /// not show.
    @Test func withoutControlGroupsMaxMemoryUsedCountsTheRuntimesChildren() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let code = try TestFunctions.writeBash(
            in: dir, name: "parent",
            handler: #"""
                python3 -c 'import sys, time; b = bytearray(150 << 20); print("held", flush=True); time.sleep(60)' \
                  > /tmp/albatross-held-$$ &
                for _ in $(seq 100); do grep -q held /tmp/albatross-held-$$ 2>/dev/null && break; sleep 0.05; done
                rm -f /tmp/albatross-held-$$
                printf '"pid=%s"' "$$"
                """#)
        // 256 MB: the child's 150 MB stay under MemorySize (``MemoryWatch``).
        var function = EnvironmentLifecycleTests.function("parent", at: code, timeout: 10)
        function.memorySize = 256
        let harness = try InvokerHarness(
            functions: [function], dataDirectory: dir.url("data"), controlGroups: false, freezeIdle: false)
        let outcome = try await harness.invoke("parent", wantsReport: true)
        #expect(outcome.functionError == nil, "\(outcome.text)")
        let report = try #require(outcome.reportLine)
        #expect((Self.maxMemoryUsedMB(report) ?? 0) >= 150, "the child's 150 MB counted: \(report)")
        try await harness.shutdown()
    }

    /// Without a memory group, MemorySize is kept by ``MemoryWatch``: a runtime whose memory grows past 128 MB
    /// (well before the address-space limit of 2.3 GB would stop it) is killed as the OOM killer would kill it,
    /// the invoke fails with `Runtime.OutOfMemory`, and the next invoke gets a new environment.
    @Test func withoutControlGroupsARuntimePastItsMemoryIsOutOfMemoryAndReplaced() async throws {
        // A 4 MB chunk appended again and again: past 128 MB in a few dozen steps, far from 2.3 GB.
        try await Self.growsPastItsMemory(
            grow: "chunk=$(head -c 4194304 /dev/zero | tr '\\0' a); x=$chunk; while true; do x=\"$x$chunk\"; done",
            controlGroups: false, minimumUsedMB: 128, why: "the tree's peak, past the 128 MB")
    }

    @Test(.enabled(if: available)) func leftoversOfADeadServerAreKilledEvenFrozenAndRemoved() throws {
        // A parent group as a server that no longer runs left it (pid 0 never names a server), recorded in a
        // data directory, with a frozen process in one environment group.
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let records = dir.url("cgroups")
        let detection = ControlGroups.detect()
        let groups = try #require(detection.groups)
        groups.removeParents()
        let parents = groups.parents.map { ($0 as NSString).deletingLastPathComponent + "/albatross-0-1-0" }
        let environment = ControlGroups(version: groups.version, parents: parents).group(named: "left")
        defer {
            environment.remove()
            for parent in parents { _ = rmdir(parent) }
        }
        for parent in parents { #expect(mkdir(parent, 0o755) == 0) }
        try environment.create(memoryBytes: 64 * 1_048_576)
        ControlGroups(version: groups.version, parents: parents).record(in: records)
        // Recorded elsewhere: not this data directory's to remove.
        #expect(ControlGroups.removeLeftovers(recordedIn: dir.url("other")).isEmpty)
        #expect(FileManager.default.fileExists(atPath: environment.directories[0]))
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["600"]
        try sleeper.run()
        let pid = sleeper.processIdentifier
        defer { if sleeper.isRunning { kill(pid, SIGKILL) } }
        for file in environment.joinFiles { try writeFile(file, "\(pid)") }
        #expect(environment.setFrozen(true))
        #expect(ProcessTree.wait(seconds: 2) { environment.isFrozen() })
        let killed = ControlGroups.removeLeftovers(recordedIn: records)
        #expect(killed.contains(pid))
        sleeper.waitUntilExit()
        #expect(sleeper.terminationReason == .uncaughtSignal && sleeper.terminationStatus == SIGKILL)
        for directory in environment.directories + parents {
            #expect(!FileManager.default.fileExists(atPath: directory), "\(directory) removed")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: records).isEmpty, "the record is removed")
    }

    @Test(.enabled(if: available)) func emptyGroupsOfDeadServersAreRemovedAnywhereAndBusyOnesKept() throws {
        let groups = try #require(ControlGroups.detect().groups)
        groups.removeParents()
        let base = groups.parents.map { ($0 as NSString).deletingLastPathComponent }
        let empty = base.map { "\($0)/albatross-0-2-0" }
        let busy = base.map { "\($0)/albatross-0-3-0" }
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["600"]
        defer {
            if sleeper.isRunning {
                kill(sleeper.processIdentifier, SIGKILL)
                sleeper.waitUntilExit()
            }
            for directory in (busy + empty).flatMap({ ["\($0)/env-x", "\($0)/pilot", $0] }) { _ = rmdir(directory) }
        }
        for parent in empty + busy {
            #expect(mkdir(parent, 0o755) == 0)
            #expect(mkdir("\(parent)/env-x", 0o755) == 0)
        }
        #expect(mkdir("\(empty[empty.count - 1])/pilot", 0o755) == 0)
        try sleeper.run()
        try writeFile("\(busy[0])/env-x/cgroup.procs", "\(sleeper.processIdentifier)")
        ControlGroups.removeEmptyLeftovers()
        for parent in empty { #expect(!FileManager.default.fileExists(atPath: parent), "\(parent) removed") }
        #expect(FileManager.default.fileExists(atPath: "\(busy[0])/env-x"), "a group with a process is kept")
        #expect(sleeper.isRunning, "nothing is killed")
    }
}
