import AlbatrossTestKit
import Environments
import Foundation
import InvocationModel
import NIOCore
import Testing

/// External extensions in the sandbox (issue 12, items 3 and 6): the runtime and its extensions share one
/// execution environment, as on AWS: one `/tmp`, one PID namespace, the same mounts, no capabilities. The
/// extensions cannot write into the test's directory there (the sandbox hides it), so these tests read what they
/// did from the function's log stream (their output goes there) and from the runtime's responses, and find their
/// host processes by the unique names they run under.
@Suite(.serialized)
struct SandboxExtensionsTests {
    /// Whether bwrap can run here (elsewhere these tests are skipped with this reason).
    static let sandboxWorks: Bool = {
        guard let dir = try? TemporaryDirectory() else { return false }
        defer { dir.remove() }
        return Sandbox.detect(mode: .sandbox, tmpBytes: 1 << 20, runtimeDirectory: dir.url("runtime")).sandbox != nil
    }()

    /// The extension `name`'s process as the host sees it: the server's child (joined processes are), not a
    /// subshell of it caught forking (`$(...)` runs a copy of bash with the same command line).
    static func extensionProcesses(_ name: String) -> [Int32] {
        let children = Set(ProcessTree.children())
        return ProcessTree.pids(commandLineContaining: "/opt/extensions/\(name)").filter { children.contains($0) }
    }

    /// A unique extension name, so that its host processes can be found by their command lines.
    static func uniqueName(_ prefix: String) -> String {
        "\(prefix)-\(UInt32.random(in: 100_000..<UInt32.max))"
    }

    /// A bash extension that prints what it does (`<name>: ...`, to the function's log): `beforeRegister` runs
    /// first, `onInvoke` after each INVOKE, and it exits 0 on SHUTDOWN.
    static func bashExtension(name: String, beforeRegister: String = "", onInvoke: String = "") -> String {
        """
        #!/bin/bash
        set -uo pipefail
        API="http://${AWS_LAMBDA_RUNTIME_API}/2020-01-01/extension"
        \(beforeRegister)
        HEADERS="$(mktemp)"
        BODY=$(curl -sS -D "$HEADERS" -X POST -H 'Lambda-Extension-Name: \(name)' -d '{"events":["INVOKE","SHUTDOWN"]}' "$API/register")
        ID=$(grep -Fi Lambda-Extension-Identifier "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
        rm -f "$HEADERS"
        echo "\(name): registered $BODY"
        while true; do
          EVENT=$(curl -sS -H "Lambda-Extension-Identifier: $ID" "$API/event/next") || exit 1
          echo "\(name): $EVENT"
          case "$EVENT" in
            *'"SHUTDOWN"'*) echo "\(name): exiting"; exit 0 ;;
          esac
          \(onInvoke)
        done
        """
    }

    static func start(
        _ dir: TemporaryDirectory, extensions: [String: String], handler: String, initScript: String = "",
        timeout: Int = 5
    ) async throws -> ServerHarness {
        try TestFunctions.writeBash(in: dir, name: "fn", handler: handler, initScript: initScript)
        for (name, script) in extensions {
            try dir.write("layers/ext/extensions/\(name)", script, executable: true)
        }
        let yaml = """
            dataDirectory: ./data
            environments:
              freezeIdle: false
            layers:
              - {name: ext, code: ./layers/ext}
            functions:
              - name: fn
                runtime: provided.al2023
                handler: h
                code: ./fn
                timeout: \(timeout)
                layers: [ext]
            targetGroups:
              - {name: fn, function: fn}
            listeners:
              - port: 0
                defaultAction: {forward: fn}
            """
        return try await ServerHarness(yaml: yaml, baseDirectory: dir.path, isolation: .sandbox)
    }

    static func invoke(_ server: ServerHarness, wantsReport: Bool = true) async throws -> InvocationOutcome {
        try await server.application.invoke(
            InvokeRequest(functionName: "fn", payload: ByteBuffer(string: "{}"), wantsReport: wantsReport))
    }

    /// The lines of every log stream of `fn`, timestamps stripped.
    static func logLines(_ server: ServerHarness) -> [String] {
        server.logSink.flush()
        let root = "\(server.configuration.dataDirectory)/aws/lambda/fn"
        var lines: [String] = []
        // Stream names have slashes: the files are in nested directories.
        for file in FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? [] {
            let text = (try? String(contentsOfFile: "\(root)/\(file)", encoding: .utf8)) ?? ""
            lines += text.split(separator: "\n").map { line in
                line.firstIndex(of: " ").map { String(line[line.index(after: $0)...]) } ?? String(line)
            }
        }
        return lines
    }

    /// The `Cap*` and `NoNewPrivs` lines of /proc/self/status, `:\t` and newlines made `=` and `,` (a shell
    /// fragment).
    static let privileges =
        #"$(grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/self/status | sed 's/:\t/=/' | tr '\n' ',')"#
    static let noPrivileges =
        "CapInh=0000000000000000,CapPrm=0000000000000000,CapEff=0000000000000000,CapBnd=0000000000000000,"
        + "CapAmb=0000000000000000,NoNewPrivs=1,"

    @Test(.enabled(if: sandboxWorks, "bwrap cannot run here"))
    func theRuntimeAndItsExtensionShareTmpAndThePIDNamespaceWithoutPrivileges() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let name = Self.uniqueName("sharer")
        // The extension leaves its pid in /tmp before it registers (so before the runtime starts), and reads back
        // what the runtime wrote in /tmp during its INIT.
        let sharer = Self.bashExtension(
            name: name,
            beforeRegister: #"echo "$$" > /tmp/extension-pid; echo "\#(name): privileges \#(Self.privileges)""#,
            onInvoke: #"echo "\#(name): runtime wrote $(cat /tmp/runtime-wrote 2>&1)""#)
        let handler = #"""
            ext=$(cat /tmp/extension-pid 2>&1)
            cmd=$(tr '\0' ' ' < "/proc/$ext/cmdline" 2>&1)
            printf '"ext=%s cmd=%s self=%s privileges=%s"' "$ext" "$cmd" "$$" "\#(Self.privileges)"
            """#
        let server = try await Self.start(
            dir, extensions: [name: sharer], handler: handler, initScript: #"echo "runtime $$" > /tmp/runtime-wrote"#)
        let outcome = try await Self.invoke(server)
        // The host's view: the extension and the runtime are in one PID namespace, not the server's.
        let hostPIDs = Self.extensionProcesses(name)
        let extensionNamespace = hostPIDs.first.flatMap {
            try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\($0)/ns/pid")
        }
        let serverNamespace = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/pid")
        await server.shutdown()

        // bwrap's init is 1, the extension 2 (it started first), the runtime later (after the extension's curl).
        #expect(
            outcome.text.hasPrefix("\"ext=2 cmd=/bin/bash /opt/extensions/\(name)  self="), "\(outcome.text)")
        #expect(outcome.text.hasSuffix(" privileges=\(Self.noPrivileges)\""), "\(outcome.text)")
        let runtimePID = outcome.text.firstMatch(of: #/ self=(\d+) /#).flatMap { Int($0.1) }
        #expect(runtimePID.map { $0 > 2 && $0 < 64 } == true, "a small pid of the sandbox's namespace")
        let log = Self.logLines(server)
        #expect(log.contains("\(name): privileges \(Self.noPrivileges)"), "\(log)")
        #expect(
            log.contains("\(name): runtime wrote runtime \(runtimePID ?? -1)"),
            "the extension read the runtime's /tmp file: \(log)")
        #expect(log.contains("\(name): exiting"), "SHUTDOWN reached it: \(log)")
        #expect(hostPIDs.count == 1, "\(hostPIDs)")
        #expect(extensionNamespace != nil && extensionNamespace != serverNamespace)
        #expect(await eventually(seconds: 5) { ProcessTree.pids(commandLineContaining: name).isEmpty })
    }

    @Test(.enabled(if: sandboxWorks, "bwrap cannot run here"))
    func anExtensionRegistersUnderItsFileNameGetsEveryInvokeAndShutdownAndExits() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let name = Self.uniqueName("recorder")
        let server = try await Self.start(
            dir, extensions: [name: Self.bashExtension(name: name)], handler: #"printf '"ok"'"#)
        let first = try await Self.invoke(server)
        let second = try await Self.invoke(server)
        #expect(first.text == #""ok""# && second.text == #""ok""#)
        #expect(first.logStreamName == second.logStreamName, "one warm environment")
        let hostPIDs = Self.extensionProcesses(name)
        #expect(hostPIDs.count == 1, "\(hostPIDs)")
        let stopping = Date()
        await server.shutdown()
        let log = Self.logLines(server)
        #expect(log.first?.hasPrefix("INIT_START Runtime Version: ") == true, "INIT starts with the extensions: \(log)")
        #expect(log.contains(#"\#(name): registered {"functionName":"fn","functionVersion":"$LATEST","handler":"h"}"#))
        let invokes = log.filter { $0.hasPrefix(#"\#(name): {"eventType":"INVOKE""#) }
        #expect(invokes.count == 2, "\(log)")
        for (line, outcome) in zip(invokes, [first, second]) {
            #expect(line.contains(#""requestId":"\#(outcome.requestID)""#), "\(line)")
        }
        let shutdown = try #require(log.first { $0.hasPrefix("\(name): ") && $0.contains(#""SHUTDOWN""#) })
        #expect(shutdown.contains(#""shutdownReason":"spindown""#))
        let deadline = try #require(shutdown.firstMatch(of: #/"deadlineMs":(\d+)/#).flatMap { Int64($0.1) })
        let stoppedAt = Int64(stopping.timeIntervalSince1970 * 1000)
        // The grace (2 s) from the environment's stop, which a loaded machine may reach seconds after the shutdown
        // began. 2 ms of slack below: both sides are truncated to milliseconds (the stop's wall clock, the grace
        // left), as in ExtensionsTests.
        #expect(
            deadline >= stoppedAt + 1_998 && deadline <= stoppedAt + 10_000,
            "the termination grace from the stop: deadline \(deadline), stopped at \(stoppedAt), log \(log)")
        #expect(log.contains("\(name): exiting"))
        #expect(first.reportLine?.contains("Init Duration") == true)
        #expect(hostPIDs.allSatisfy { ProcessTree.isGone($0) }, "the extension exited")
    }

    @Test(.enabled(if: sandboxWorks, "bwrap cannot run here"))
    func anExtensionThatCrashesDuringInitFailsTheInvokeWithItsExitStatus() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let name = Self.uniqueName("crasher")
        let crasher = "#!/bin/bash\necho \"\(name): giving up\"\nexit 3\n"
        let server = try await Self.start(dir, extensions: [name: crasher], handler: #"printf '"ok"'"#)
        let outcome = try await Self.invoke(server)
        await server.shutdown()
        #expect(outcome.errorType == "Extension.Crash", "\(outcome.text)")
        #expect(outcome.text.contains("extension \(name) exited during INIT: exit status 3"), "\(outcome.text)")
        #expect(Self.logLines(server).contains("\(name): giving up"))
    }

    @Test(.enabled(if: sandboxWorks, "bwrap cannot run here"))
    func anExtensionThatCannotBeExecutedInTheSandboxIsALaunchError() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // Its interpreter is not in the sandbox (nor on the host): exec fails in the joined child.
        let name = Self.uniqueName("broken")
        let server = try await Self.start(
            dir, extensions: [name: "#!/no/such/interpreter\n"], handler: #"printf '"ok"'"#)
        let outcome = try await Self.invoke(server)
        await server.shutdown()
        #expect(outcome.errorType == "Extension.LaunchError", "\(outcome.text)")
        #expect(outcome.text.contains("cannot start extension \(name)"), "\(outcome.text)")
    }

    @Test(.enabled(if: sandboxWorks, "bwrap cannot run here"))
    func anExtensionThatCrashesAfterInitResetsTheEnvironment() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let name = Self.uniqueName("dies")
        // It dies after the runtime has answered (so each environment serves one invoke, then is reset).
        let dies = Self.bashExtension(name: name, onInvoke: #"sleep 1; echo "\#(name): dying"; exit 4"#)
        let server = try await Self.start(dir, extensions: [name: dies], handler: #"printf '"ok"'"#)
        let first = try await Self.invoke(server, wantsReport: false)
        #expect(first.text == #""ok""#, "\(first.text)")
        let reset = await eventually(seconds: 10) {
            Self.logLines(server).contains("\(name): dying")
                && ProcessTree.pids(commandLineContaining: "/opt/extensions/\(name)").isEmpty
        }
        #expect(reset, "\(Self.logLines(server))")
        let second = try await Self.invoke(server, wantsReport: false)
        await server.shutdown()
        #expect(second.text == #""ok""#, "\(second.text)")
        #expect(second.logStreamName != first.logStreamName, "a new environment after the crash")
    }

    @Test(.enabled(if: sandboxWorks, "bwrap cannot run here"))
    func anExtensionThatIgnoresShutdownIsKilledAtTheDeadlineWithItsSandbox() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let name = Self.uniqueName("stubborn")
        let stubborn = Self.bashExtension(name: name, beforeRegister: "trap '' TERM")
            .replacingOccurrences(
                of: #"echo "\#(name): exiting"; exit 0"#, with: #"echo "\#(name): ignoring"; sleep 600"#)
        let server = try await Self.start(dir, extensions: [name: stubborn], handler: #"printf '"ok"'"#)
        _ = try await Self.invoke(server)
        let start = Date()
        await server.shutdown()
        let took = Date().timeIntervalSince(start)
        #expect(Self.logLines(server).contains("\(name): ignoring"))
        #expect(took >= 1.5 && took < 10, "killed at the 2 s deadline (\(took) s)")
        #expect(await eventually(seconds: 5) { ProcessTree.pids(commandLineContaining: name).isEmpty })
    }
}
