import AlbatrossTestKit
import Foundation
import Glibc
import Testing

/// `serve` as an ordinary user, as a developer runs it on a laptop: the tests and CI run as root, which hides
/// whatever needs a privilege. The server runs as `nobody` (setpriv from util-linux) on a directory of its own: the
/// listener must answer and the runtime run as that user, or as Lambda's in the sandbox. (A listener option set at
/// the wrong level, TCP_NODELAY as SOL_SOCKET's SO_DEBUG, which only root may set, once reset every connection of
/// an unprivileged server.) Where bubblewrap works for that user (user namespaces), the server runs its functions
/// in the sandbox as it does for root: bwrap makes the namespaces in a user namespace of the server's user, mapped
/// to Lambda's `sbx_user1051` inside, and the runtime joins them through it (spawn.c, `join`).
@Suite(.serialized)
struct UnprivilegedServeTests {
    static let nobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

    static let available: Bool = {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: nobody[0])
    }()

    /// Runs `command` as nobody; its exit status.
    static func asNobody(_ command: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: nobody[0])
        process.arguments = Array(nobody.dropFirst()) + command
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// The runtime's user, pid and directory, and the pid its extension wrote to `/tmp`, if that process is one it
    /// can see.
    static let handler = #"""
        EXT=$(cat /tmp/extension-pid 2>/dev/null); test -n "$EXT" && test -d "/proc/$EXT" || EXT=none
        printf '{"statusCode":200,"body":"uid=%s pid=%s in %s extension=%s"}' "$(id -u)" "$$" "$PWD" "$EXT"
        """#

    /// An external extension that writes its pid to `/tmp` and registers.
    static let extensionScript = """
        #!/bin/bash
        echo $$ > /tmp/extension-pid
        API="http://${AWS_LAMBDA_RUNTIME_API}/2020-01-01/extension"
        ID=$(curl -sS -D - -X POST -H 'Lambda-Extension-Name: pid-writer' -d '{"events":["SHUTDOWN"]}' "$API/register" \
          | tr -d '\r' | sed -n 's/^[Ll]ambda-[Ee]xtension-[Ii]dentifier: //p')
        curl -sS -H "Lambda-Extension-Identifier: $ID" "$API/event/next" > /dev/null
        rm -f /tmp/extension-pid
        """

    @Test(.enabled(if: available)) func anOrdinaryUserServesThroughTheListener() async throws {
        try await serve(wrapper: Self.nobody, serverUID: "65534")
    }

    /// Root in a user namespace that maps only itself (a rootless container's root, here nobody's namespace):
    /// uid 993 does not exist there, so the sandbox's user namespace maps the server's root to it, as for an
    /// ordinary user (a root server switching user itself would fail with EINVAL).
    @Test(.enabled(if: available)) func rootOfAUserNamespaceServesInTheSandbox() async throws {
        try await serve(wrapper: Self.nobody + ["/usr/bin/unshare", "--user", "--map-root-user"], serverUID: "0")
    }

    /// A host where user namespaces are disabled, made without touching the machine's own setting: the server runs
    /// as nobody in a user namespace of its own (mapping uids and gids 0 to 65535 as they are), in which
    /// `max_user_namespaces` is 0, so bwrap cannot create one. The server falls back to process mode and says why
    /// once, naming the setting.
    @Test(.enabled(if: available && FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")))
    func withoutUserNamespacesTheServerSaysSoAndRunsProcesses() async throws {
        let scripts = try TemporaryDirectory()
        defer { scripts.remove() }
        let script = try scripts.write("no-user-namespaces.py", Self.withoutUserNamespaces)
        try await serve(
            wrapper: ["/usr/bin/python3", script] + Self.nobody, serverUID: "65534",
            isolation: "isolation: process: no sandbox, user namespaces are disabled"
                + " (/proc/sys/user/max_user_namespaces is 0): the sandbox did not start:"
                + " bwrap: Creating new namespace failed")
    }

    /// Runs its arguments in a new user namespace that maps ids 0 to 65535 to themselves, with
    /// `max_user_namespaces` 0 there. Its child, still in the first namespace (and root), writes the maps.
    static let withoutUserNamespaces = #"""
        import ctypes, os, sys
        libc = ctypes.CDLL(None, use_errno=True)
        unshared_r, unshared_w = os.pipe()
        mapped_r, mapped_w = os.pipe()
        child = os.fork()
        if child == 0:
            os.read(unshared_r, 1)
            for name in ("uid_map", "gid_map"):
                with open(f"/proc/{os.getppid()}/{name}", "w") as f:
                    f.write("0 0 65536\n")
            os.write(mapped_w, b"x")
            os._exit(0)
        if libc.unshare(0x10000000) != 0:  # CLONE_NEWUSER
            sys.exit(f"unshare: errno {ctypes.get_errno()}")
        os.write(unshared_w, b"x")
        if os.read(mapped_r, 1) != b"x":
            sys.exit("the maps were not written")
        os.waitpid(child, 0)
        fd = os.open("/proc/sys/user/max_user_namespaces", os.O_WRONLY)
        os.write(fd, b"0")
        os.close(fd)
        os.execv(sys.argv[1], sys.argv[1:])
        """#

    /// The server as `wrapper` runs it (as nobody, one way or another): its listener, its runtime's user (Lambda's
    /// in the sandbox, else `serverUID`), the sandbox where bwrap works for nobody. `isolation`: what the start
    /// line's mode must contain (nil: the sandbox where bwrap works for nobody here, else anything).
    func serve(wrapper: [String], serverUID: String, isolation expected: String? = nil) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TestFunctions.writeBash(in: dir, name: "fn", handler: Self.handler)
        try dir.write("layers/ext/extensions/pid-writer", Self.extensionScript, executable: true)
        let configPath = try dir.write(
            "serve.yaml",
            """
            dataDirectory: ./data
            layers:
              - {name: ext, code: ./layers/ext}
            functions:
              - {name: fn, runtime: provided.al2023, handler: h, code: ./fn, timeout: 20, layers: [ext]}
            targetGroups:
              - {name: fn-tg, function: fn}
            listeners:
              - port: 0
                defaultAction: {forward: fn-tg}
            """)
        // The build's binary, or a copy where nobody cannot reach it.
        var executable = try AlbatrossCommand.executable()
        if Self.asNobody(["/bin/test", "-x", executable]) != 0 {
            let copy = dir.url("albatross")
            try FileManager.default.copyItem(atPath: executable, toPath: copy)
            executable = copy
        }
        #expect(chown(dir.path, 65534, 65534) == 0)
        for entry in try FileManager.default.subpathsOfDirectory(atPath: dir.path) {
            #expect(lchown(dir.url(entry), 65534, 65534) == 0, "\(entry)")
        }
        let sandboxWorks =
            expected == nil
            && Self.asNobody(["/usr/bin/bwrap", "--ro-bind", "/", "/", "--unshare-pid", "--proc", "/proc", "/bin/true"])
                == 0
        // The suite runs in process mode (ALBATROSS_ISOLATION); this server picks its mode itself.
        let server = try await ServeProcess.start(
            configPath: configPath, wrapper: ["/usr/bin/env", "ALBATROSS_ISOLATION=auto"] + wrapper,
            executable: executable)
        defer { server.cleanUp() }
        let isolationLines = server.output.split(separator: "\n").filter { $0.contains("isolation: ") }
        #expect(isolationLines.count == 1, "the mode is said once: \(server.output)")
        let isolation = isolationLines.first
        if let expected {
            #expect(isolation?.contains(expected) == true, "\(server.output)")
        } else if sandboxWorks {
            #expect(isolation?.contains("isolation: sandbox (bubblewrap") == true, "\(server.output)")
        }
        for _ in 0..<3 {
            let response = try RawHTTPClient(port: server.port, timeout: 20).request("GET", "/")
            #expect(response.status == 200, "\(response.text)\n\(server.output)")
            // In the sandbox, Lambda's user (bwrap's user namespace maps nobody to it); else the server's.
            let uid = sandboxWorks ? "993" : serverUID
            #expect(response.text.hasPrefix("uid=\(uid) "), "the runtime's user: \(response.text)")
            if sandboxWorks {
                // The extension joined the sandbox first (pid 2, after its init), the runtime after it (a low pid
                // of the same namespace), and the runtime sees the extension's /tmp and process.
                #expect(response.text.hasSuffix(" in /var/task extension=2"), "in the sandbox: \(response.text)")
                let pid = response.text.split(separator: " ").first { $0.hasPrefix("pid=") }.flatMap {
                    Int($0.dropFirst(4))
                }
                #expect(pid.map { $0 > 2 && $0 < 100 } == true, "a pid of the sandbox: \(response.text)")
            }
        }
        let outcome = await server.stop()
        #expect(outcome.exited && outcome.status == 0, "\(outcome.output)")
    }
}
