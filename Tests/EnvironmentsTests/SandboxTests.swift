import AlbatrossTestKit
import Configuration
import Foundation
import Glibc
import Invocation
import InvocationModel
import LambdaModel
import Testing

@testable import Environments

/// The `sandbox` isolation mode (issue 12, item 3) with real runtimes in real bubblewrap sandboxes: what a function
/// sees of the host, what it can write, its PIDs, and that the platform still ends and signals the whole tree.
/// Needs bwrap, as CI has (Debian's bubblewrap, run as root).
@Suite(.serialized)
struct SandboxTests {
    static func harness(
        _ functions: [FunctionConfiguration], in dir: TemporaryDirectory, tmpMB: Int = 512, freezeIdle: Bool = true,
        controlGroups: Bool = true
    ) throws -> InvokerHarness {
        try InvokerHarness(
            functions: functions, dataDirectory: dir.url("data"), controlGroups: controlGroups, freezeIdle: freezeIdle
        ) {
            $0.environments.isolation = .sandbox
            $0.environments.ephemeralStorageMB = tmpMB
        }
    }

    static func bash(
        _ name: String, in dir: TemporaryDirectory, handler: String, timeout: Int = 5
    ) throws
        -> FunctionConfiguration
    {
        let code = try TestFunctions.writeBash(in: dir, name: name, handler: handler)
        return EnvironmentLifecycleTests.function(name, at: code, timeout: timeout)
    }

    /// Every host process whose command line contains `marker`.
    static func processes(containing marker: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\0", with: " ").contains(marker)
        }
    }

    /// bwrap makes a mount point's missing parents 0700; the sandbox makes them 0755 first, except at or under a
    /// bind mount (the host's own directories there).
    @Test func parentsOfMountPointsAreMadeReachable() {
        let arguments = [
            "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--ro-bind-try", "/etc/ssl/certs",
            "/etc/ssl/certs", "--ro-bind", "/etc/passwd", "/etc/passwd", "--proc", "/proc", "--perms", "1777", "--size",
            "4096", "--tmpfs", "/tmp", "--ro-bind", "/code", "/var/task", "--ro-bind", "/p", "/usr/local/python",
            "--ro-bind", "/h", "/home/me/.pyenv/versions/3.12", "--dir", "/opt",
        ]
        #expect(
            Sandbox.parentDirectories(of: arguments) == [
                "--perms", "0755", "--dir", "/etc", "--perms", "0755", "--dir", "/home", "--perms", "0755", "--dir",
                "/var", "--perms", "0755", "--dir", "/etc/ssl", "--perms", "0755", "--dir", "/home/me", "--perms",
                "0755", "--dir", "/home/me/.pyenv", "--perms", "0755", "--dir", "/home/me/.pyenv/versions",
            ])
    }

    /// Root changes user as it drops its capabilities; another server's user is mapped by bwrap.
    @Test func lambdasUserIsSwitchedToByRootAndMappedOtherwise() {
        var sandbox = Sandbox(
            executable: "/usr/bin/bwrap", version: "bubblewrap 0.8.0", tmpBytes: 1 << 20, runtimeDirectory: "/r",
            user: .lambda, systemArguments: [])
        #expect(sandbox.userSwitch(canSwitch: true).runAs == .lambda)
        #expect(sandbox.userSwitch(canSwitch: true).mapped == nil)
        #expect(sandbox.userSwitch(canSwitch: false).runAs == nil)
        #expect(sandbox.userSwitch(canSwitch: false).mapped == .lambda)
        let mapped = Sandbox.holderArguments(mounts: ["--dir", "/opt"], mappedUser: .lambda)
        #expect(
            mapped.starts(with: ["--dir", "/opt", "--unshare-user", "--uid", "993", "--gid", "990", "--unshare-pid"]))
        sandbox.user = nil
        #expect(sandbox.userSwitch(canSwitch: false).mapped == nil)
        #expect(!Sandbox.holderArguments(mounts: []).contains("--unshare-user"))
    }

    @Test func detectionRunsBwrapAndNamesWhatIsMissing() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let found = Sandbox.detect(mode: .auto, tmpBytes: 1 << 20, runtimeDirectory: dir.url("runtime"))
        #expect(found.sandbox != nil, "\(found.summary)")
        #expect(found.summary.hasPrefix("sandbox (bubblewrap "), "\(found.summary)")
        #expect(found.summary.hasSuffix(", /tmp 1 MB, sbx_user1051, uid 993)"), "\(found.summary)")
        let own = Sandbox.detect(mode: .auto, tmpBytes: 1 << 20, runtimeDirectory: dir.url("runtime"), user: .server)
        #expect(own.summary.hasSuffix(", /tmp 1 MB, the server's user)"), "\(own.summary)")
        let missing = Sandbox.detect(
            mode: .auto, tmpBytes: 1 << 20, runtimeDirectory: dir.url("runtime"), executable: "bwrap-not-here")
        #expect(missing.sandbox == nil)
        #expect(missing.summary == "process: no sandbox, bubblewrap is not installed (no bwrap-not-here on PATH)")
        let off = Sandbox.detect(mode: .process, tmpBytes: 1 << 20, runtimeDirectory: dir.url("runtime"))
        #expect(off.sandbox == nil && off.summary.hasPrefix("process"))
        #expect(found.sandbox?.tmpBytes == 1 << 20)
    }

    /// When bwrap cannot create its namespaces, the start line names the kernel setting at fault, if one is
    /// (UnprivilegedServeTests runs a server where `max_user_namespaces` is 0).
    @Test func aNamespaceFailureNamesTheSettingAtFault() {
        let bwrap = "bwrap: Creating new namespace failed: Operation not permitted"
        typealias Settings = Sandbox.NamespaceSettings
        let cases: [(Settings, String)] = [
            (Settings(maxUserNamespaces: 0), "user namespaces are disabled (/proc/sys/user/max_user_namespaces is 0)"),
            (
                Settings(maxUserNamespaces: 1000, unprivilegedClone: 0),
                "user namespaces are disabled for users other than root (kernel.unprivileged_userns_clone is 0)"
            ),
            (
                Settings(maxUserNamespaces: 1000, unprivilegedClone: 1, appArmorRestricts: 1),
                "AppArmor restricts user namespaces to the programs its profiles allow"
                    + " (kernel.apparmor_restrict_unprivileged_userns is 1; a profile for bwrap allows it)"
            ),
            (
                Settings(maxUserNamespaces: 1000, appArmorRestricts: 0),
                "bwrap cannot create namespaces (no user namespaces for this user?)"
            ),
        ]
        for (settings, cause) in cases {
            #expect(Sandbox.namespaceFailure(bwrapOutput: bwrap, settings: settings) == "\(cause): \(bwrap)")
        }
        // This machine's own settings are readable (the kernel has max_user_namespaces).
        #expect(Settings.read().maxUserNamespaces != nil)
    }
    @Test func aFunctionSeesItsCodeAtVarTaskAndNothingOfOtherFunctionsOrTheDataDirectory() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let other = try Self.bash("other", in: dir, handler: #"printf '"other"'"#)
        let data = dir.url("data")
        let handler = """
            seen=""
            for path in "\(dir.url("other"))/bootstrap" "\(data)" "\(dir.path)" /root /home /etc/shadow /etc/ssl/private /var/lib; do
              [ -e "$path" ] && seen="$seen $path"
            done
            printf '"task=%s pwd=%s boot=%s seen=%s top=%s"' "$LAMBDA_TASK_ROOT" "$PWD" \
              "$(test -x /var/task/bootstrap && echo yes)" "$seen" "$(ls / | tr '\\n' ',')"
            """
        let look = try Self.bash("look", in: dir, handler: handler)
        let harness = try Self.harness([look, other], in: dir)
        let outcome = try await harness.invoke("look")
        #expect(outcome.errorType == nil, "\(outcome.text)")
        #expect(outcome.text.contains("task=/var/task pwd=/var/task boot=yes seen= top="), "\(outcome.text)")
        #expect(outcome.text.contains("top=bin,dev,etc,lib,lib64,opt,proc,sbin,tmp,usr,var,"), "\(outcome.text)")
        #expect(try await harness.invoke("other").text == "\"other\"")
        try await harness.shutdown()
    }

    /// Lambda runs functions as `sbx_user1051` (uid 993, gid 990), without privileges; the sandbox does too unless
    /// `sandboxUser: server`. The directories bwrap makes above the mounts are reachable by that user.
    @Test func theRuntimeRunsAsLambdasUserUnlessTheServersIsAsked() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let handler = """
            caps=$(grep '^CapEff' /proc/self/status | cut -f2)
            printf '"%s:%s:%s:%s|users=%s|%s|caps=%s"' "$(id -u)" "$(id -g)" "$(id -G)" "$(whoami)" \
              "$(cut -d: -f1 /etc/passwd | tr '\\n' ',')" "$(stat -c %a /var /etc /etc/ssl | tr '\\n' ' ')" "$caps"
            """
        let function = try Self.bash("who", in: dir, handler: handler)
        let harness = try Self.harness([function], in: dir)
        let lambda = try await harness.invoke("who")
        #expect(
            lambda.text
                == "\"993:990:990:sbx_user1051|users=root,sbx_user1051,nobody,|755 755 755 |caps=0000000000000000\"",
            "\(lambda.text)")
        try await harness.shutdown()
        let own = try InvokerHarness(functions: [function], dataDirectory: dir.url("data-own")) {
            $0.environments.isolation = .sandbox
            $0.environments.sandboxUser = .server
        }
        let server = try await own.invoke("who")
        #expect(server.text.hasPrefix("\"\(getuid()):\(getgid()):"), "the server's user: \(server.text)")
        #expect(server.text.hasSuffix("|755 755 755 |caps=0000000000000000\""), "\(server.text)")
        #expect(!server.text.contains("sbx_user1051"), "the host's users: \(server.text)")
        try await own.shutdown()
    }

    @Test func codeAndOptAreReadOnlyAndTmpIsPrivateAndCapped() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let marker = "albatross-sandbox-\(UUID().uuidString)"
        // Each environment writes a file of its own in /tmp, then looks for the other's; dd past the cap fails.
        let handler = """
            w1=$(touch /var/task/x 2>&1 && echo wrote); w2=$(touch /opt/x 2>&1 && echo wrote)
            w3=$(touch /x 2>&1 && echo wrote)
            echo "$AWS_LAMBDA_LOG_STREAM_NAME" > "/tmp/\(marker)-$$"; sleep 0.5
            count=$(ls /tmp | grep -c '\(marker)')
            full=$(dd if=/dev/zero of=/tmp/fill bs=1M count=8 2>&1 | grep -c 'No space left on device')
            # The cap less the page of this environment's own marker file.
            size=$(stat -c %s /tmp/fill); rm -f /tmp/fill; [ "$size" -ge 4128768 ] && [ "$size" -le 4194304 ] && size=4M
            printf '"%s|%s|%s|count=%s|full=%s|size=%s|tmpdir=%s"' "${w1##*: }" "${w2##*: }" "${w3##*: }" \
              "$count" "$full" "$size" "${TMPDIR:-unset}"
            """
        var function = try Self.bash("writer", in: dir, handler: handler)
        function.maximumConcurrency = 2
        let harness = try Self.harness([function], in: dir, tmpMB: 4)
        async let first = harness.invoke("writer")
        async let second = harness.invoke("writer")
        let outcomes = try await [first, second]
        #expect(Set(outcomes.map(\.logStreamName)).count == 2, "two environments")
        for outcome in outcomes {
            #expect(
                outcome.text
                    == "\"Read-only file system|Read-only file system|Read-only file system|count=1|full=1|size=4M|tmpdir=unset\"",
                "\(outcome.text)")
        }
        #expect(Self.processes(containing: marker).isEmpty)
        let hostTmp = (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []
        #expect(!hostTmp.contains { $0.hasPrefix(marker) }, "nothing went to the host's /tmp")
        #expect(!FileManager.default.fileExists(atPath: dir.url("writer/x")))
        try await harness.shutdown()
    }

    @Test func itsPIDNamespaceShowsOnlyItsOwnTree() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let handler = #"""
            sleep 30 &
            pids=$(cd /proc && ls -d [0-9]* | sort -n | tr '\n' ' ')
            printf '"self=%s one=%s pids=%s"' "$$" "$(cat /proc/1/comm)" "$pids"
            kill $!
            """#
        let harness = try Self.harness([try Self.bash("pids", in: dir, handler: handler)], in: dir)
        let outcome = try await harness.invoke("pids")
        // bwrap's init is 1, the runtime 2; then curl and the handler's processes (a few, all small numbers).
        #expect(outcome.text.hasPrefix("\"self=2 one=bwrap pids=1 2 "), "\(outcome.text)")
        let pids = outcome.text.split(separator: "=").last.map { $0.split(separator: " ").compactMap { Int($0) } }
        #expect((pids ?? []).allSatisfy { $0 < 64 } && (pids ?? []).count < 12, "\(outcome.text)")
        try await harness.shutdown()
    }

    @Test func theWholeTreeEndsWithTheRuntimeEvenWhatLeftItsSessionAndGroup() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let marker = "6\(Int.random(in: 10_000..<99_999)).5"
        // A child in the background, one in a session of its own, then the runtime exits mid-invoke.
        let handler = "sleep \(marker) & setsid sleep \(marker) & sleep 0.2; exit 3"
        let timeoutMarker = "7\(Int.random(in: 10_000..<99_999)).5"
        let slow = try Self.bash("slow", in: dir, handler: "setsid sleep \(timeoutMarker) & sleep 30", timeout: 1)
        let harness = try Self.harness([try Self.bash("leaver", in: dir, handler: handler), slow], in: dir)
        let outcome = try await harness.invoke("leaver")
        #expect(outcome.errorType == "Runtime.ExitError")
        #expect(outcome.text.contains("Runtime exited with error: exit status 3"), "\(outcome.text)")
        #expect(await eventually(seconds: 5) { Self.processes(containing: marker).isEmpty })
        // A timeout kills the tree too (the platform's SIGKILL to bwrap ends the PID namespace).
        let timedOut = try await harness.invoke("slow")
        #expect(timedOut.errorType == "Sandbox.Timedout")
        #expect(await eventually(seconds: 5) { Self.processes(containing: timeoutMarker).isEmpty })
        for pid in Self.processes(containing: marker) + Self.processes(containing: timeoutMarker) {
            kill(pid, SIGKILL)
        }
        try await harness.shutdown()
    }

    @Test func aRuntimeKilledBySignalIsReportedAsSignalledAndShutdownSendsItSIGTERM() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let crash = try Self.bash("crash", in: dir, handler: "kill -9 $$")
        let code = try TestFunctions.writeBash(
            in: dir, name: "polite", handler: #"printf '"ok"'"#,
            initScript: #"trap 'echo "got SIGTERM in $$"; exit 0' TERM"#)
        let polite = EnvironmentLifecycleTests.function("polite", at: code)
        // Not frozen: the trap must run as soon as the signal comes.
        let harness = try Self.harness([crash, polite], in: dir, freezeIdle: false)
        let crashed = try await harness.invoke("crash")
        #expect(crashed.text.contains("Runtime exited with error: signal: killed"), "\(crashed.text)")
        let outcome = try await harness.invoke("polite")
        #expect(outcome.text == "\"ok\"")
        try await harness.shutdown()
        let lines = harness.logLines(functionName: "polite", streamName: outcome.logStreamName)
        #expect(lines.contains { $0.contains("got SIGTERM in 2") }, "\(lines)")
    }

    @Test func withoutControlGroupsFreezingStopsTheWholeSandboxAndItsTreeStillEnds() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let marker = "8\(Int.random(in: 10_000..<99_999)).5"
        // A background child that counts while the environment is idle: frozen (SIGSTOP to bwrap's whole process
        // group), it must not count; thawed for the next invoke, it goes on.
        let code = try TestFunctions.writeBash(
            in: dir, name: "counter", handler: #"printf '"%s"' "$(wc -l < /tmp/ticks)""#,
            initScript: "(while true; do echo tick >> /tmp/ticks; sleep 0.05; done) & sleep \(marker) &")
        let harness = try Self.harness(
            [EnvironmentLifecycleTests.function("counter", at: code)], in: dir, controlGroups: false)
        let first = try await harness.invoke("counter")
        try await Task.sleep(for: .milliseconds(600))
        let second = try await harness.invoke("counter")
        let (a, b) = (Int(first.text.dropFirst().dropLast()) ?? -1, Int(second.text.dropFirst().dropLast()) ?? -1)
        #expect(a >= 0 && b >= a && b - a < 5, "frozen while idle: \(first.text) then \(second.text)")
        #expect(!Self.processes(containing: marker).isEmpty)
        try await harness.shutdown()
        #expect(await eventually(seconds: 5) { Self.processes(containing: marker).isEmpty })
        for pid in Self.processes(containing: marker) { kill(pid, SIGKILL) }
    }

    /// A suppressed INIT's re-run starts the runtime again in the same sandbox, as AWS re-runs INIT in the same
    /// execution environment: what the first INIT left in /tmp is still there.
    @Test func anInitReRunKeepsTheSandboxAndItsTmp() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let code = try TestFunctions.writeBash(
            in: dir, name: "twice", handler: #"printf '"second INIT, runtime %s"' "$$""#,
            initScript: "if [ ! -e /tmp/first-init ]; then echo $$ > /tmp/first-init; exit 1; fi")
        let harness = try Self.harness([EnvironmentLifecycleTests.function("twice", at: code)], in: dir)
        let outcome = try await harness.invoke("twice")
        try await harness.shutdown()
        #expect(outcome.errorType == nil, "\(outcome.text)")
        // The first runtime was pid 2 of the namespace; the re-run's is another pid of the same namespace.
        #expect(outcome.text.hasPrefix("\"second INIT, runtime "), "\(outcome.text)")
        #expect(outcome.text != "\"second INIT, runtime 2\"", "\(outcome.text)")
        let lines = harness.logLines(functionName: "twice", streamName: outcome.logStreamName)
        #expect(lines.filter { $0.contains("INIT_START") }.count == 2, "\(lines)")
    }

    @Test func pythonRunsUnderAwslambdaricWithAWSPaths() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write(
            "py/app.py",
            """
            import json, os, sys
            def handler(event, context):
                try:
                    open("/var/task/x", "w")
                    task = "writable"
                except OSError as error:
                    task = error.strerror
                with open("/tmp/ok", "w") as f:
                    f.write("ok")
                names = ["PATH", "LD_LIBRARY_PATH", "PYTHONPATH", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "TMPDIR"]
                return {"env": {n: os.environ.get(n) for n in names}, "cwd": os.getcwd(), "task": task,
                        "executable": sys.executable, "path": sys.path[:4], "pid": os.getpid()}
            """)
        let function = EnvironmentLifecycleTests.function(
            "py", at: dir.url("py"), runtime: "python3.11", handler: "app.handler")
        let harness = try Self.harness([function], in: dir)
        let outcome = try await harness.invoke("py")
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(outcome.text.utf8)) as? [String: Any], "\(outcome.text)")
        let environment = try #require(json["env"] as? [String: Any], "\(outcome.text)")
        #expect(environment["PATH"] as? String == "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin")
        #expect(
            environment["LD_LIBRARY_PATH"] as? String
                == "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib")
        #expect(environment["PYTHONPATH"] as? String == "/var/runtime")
        #expect(environment["LAMBDA_TASK_ROOT"] as? String == "/var/task")
        #expect(environment["LAMBDA_RUNTIME_DIR"] as? String == "/var/runtime")
        #expect(environment["TMPDIR"] is NSNull)
        #expect(json["cwd"] as? String == "/var/task")
        #expect(json["task"] as? String == "Read-only file system")
        #expect(json["executable"] as? String == "/var/lang/bin/python")
        #expect(
            json["path"] as? [String]
                == ["/var/task", "/opt/python/lib/python3.11/site-packages", "/opt/python", "/var/runtime"],
            "\(outcome.text)")
        #expect(json["pid"] as? Int == 2)
        try await harness.shutdown()
    }
}
