import CAlbatrossSupport
import Foundation
import LambdaModel

/// The `sandbox` isolation mode: each environment runs inside one bubblewrap (`bwrap`) sandbox laid out as Lambda's
/// execution environment, its runtime and its external extensions together (as on AWS: one `/tmp`, one PID
/// namespace, the same mounts), so that a function sees what it would see on AWS and nothing of the host that it
/// should not.
///
/// The layout (runtime-api.md §3.2, §3.3): a read-only root made of the host's `/usr` (and the `/bin`, `/lib`,
/// ... links or directories beside it) and an allowlist of `/etc` files; the function's code read-only at
/// `/var/task` (also the working directory); its merged layers read-only at `/opt`; Albatross's runtime
/// directory read-only at `/var/runtime`; for Python, the interpreter's venv read-only at `/var/lang` (AWS's
/// interpreter lives in `/var/lang/bin`); a private `/tmp` tmpfs of ``tmpBytes``; a private `/proc` and `/dev`.
/// Nothing else of the host is mounted: not the data directory, not other functions' code, not `/home` or
/// `/root`. Namespaces: PID (the environment sees only its own processes), IPC and UTS; the network is the
/// host's, since the runtime reaches its Runtime API on 127.0.0.1. No capabilities, no new privileges.
///
/// Processes: ``start(spec:groupFiles:addressSpaceBytes:timeoutSeconds:)`` starts bwrap (in the environment's
/// control groups, a session of its own), whose pid 1 sets the sandbox up and then waits, the init of its
/// namespaces, for the environment's life (``Holder``). The extensions and the runtime join it
/// (``ProcessLauncher`` with `joining`): each is still the platform's own child, with its own output pipe, process
/// group and wait status. ``Holder/end()`` kills the init, and the PID namespace with everything in it.
///
/// The processes' environment is exactly the function's, never on bwrap's command line (where `ps` would show it).
public struct Sandbox: Sendable, Hashable {
    /// The `bwrap` executable.
    public var executable: String
    /// `bubblewrap 0.8.0`, from `bwrap --version`.
    public var version: String
    /// The size of each environment's `/tmp`.
    public var tmpBytes: UInt64
    /// The host directory mounted at `/var/runtime` (``writeRuntimeDirectory(at:)``).
    public var runtimeDirectory: String
    /// Who the sandbox's processes run as; nil: the server's own user.
    public var user: User?
    /// The arguments of the read-only system part of the root, computed once from the host's `/`.
    var systemArguments: [String]

    /// A user of the sandbox, with its only group.
    public struct User: Sendable, Hashable {
        public var name: String
        public var uid: UInt32
        public var gid: UInt32

        /// The user Lambda runs functions as: `sbx_user1051`, uid 993, gid 990. AWS documents only that functions
        /// run as a user without privileges; the name and numbers are what `id` prints in a Lambda function, as
        /// users report it (docs/architecture.md, "The sandbox").
        public static let lambda = User(name: "sbx_user1051", uid: 993, gid: 990)
    }

    /// Who the sandbox's processes run as (`environments.sandboxUser`).
    public enum UserChoice: String, Sendable, Hashable, CaseIterable {
        /// ``User/lambda``, as on AWS.
        case lambda
        /// The server's own user (root, when the server runs as root).
        case server
    }

    /// Where `LAMBDA_TASK_ROOT` and the layers are inside the sandbox.
    static let taskRoot = "/var/task"
    static let optRoot = "/opt"
    static let runtimeRoot = "/var/runtime"
    static let languageRoot = "/var/lang"

    /// `/etc` entries a runtime needs (the dynamic loader, name resolution, certificates, time zone, users);
    /// the rest of the host's `/etc` (keys: not `ssl/private`; shadow files; service configuration) stays out.
    /// Each is a bind mount of its own: about 10 ms of a sandboxed cold start on a loaded 2-core machine
    /// (bench/README.md, "Isolation"), kept for being live (a changed `resolv.conf` is seen at once).
    static let etcEntries = [
        "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "ssl/certs", "ssl/openssl.cnf", "ca-certificates",
        "ca-certificates.conf", "pki/tls/certs", "pki/ca-trust/extracted", "resolv.conf", "hosts", "host.conf",
        "nsswitch.conf", "gai.conf", "services", "protocols", "passwd", "group", "localtime", "timezone",
        "os-release", "mime.types", "debian_version",
    ]

    /// How runtimes are isolated (`environments.isolation`).
    public enum Mode: String, Sendable, Hashable, CaseIterable {
        /// Plain child processes (portable; the task root and layers at their host paths).
        case process
        /// bubblewrap; the start fails when it does not work.
        case sandbox
        /// `sandbox` when it works here, else `process` (said once at start, naming what is missing).
        case auto
    }

    /// What detection found: the sandbox, or nil and why not.
    public struct Detection: Sendable {
        public var sandbox: Sandbox?
        /// `sandbox (bubblewrap 0.8.0, /tmp 512 MB)` or `process: <why not sandbox>`; logged once at start and
        /// shown in `/status`.
        public var summary: String
    }

    // MARK: detection

    /// Decides the mode by running bwrap once with the very arguments a runtime would get (`mode` `process`: no
    /// attempt). Blocking (runs a process): call at start, before serving.
    ///
    /// - Parameters:
    ///   - runtimeDirectory: where to write the `/var/runtime` directory (under the data directory); the sandbox's
    ///     `/etc/passwd` and `/etc/group` go to `etc` beside it.
    ///   - executable: bwrap's name (searched on PATH) or path.
    ///   - user: who the sandbox's processes run as.
    public static func detect(
        mode: Mode, tmpBytes: UInt64, runtimeDirectory: String, user: UserChoice = .lambda,
        executable: String = "bwrap"
    ) -> Detection {
        if mode == .process { return Detection(sandbox: nil, summary: "process (environments.isolation: process)") }
        let chosen = user == .lambda ? User.lambda : nil
        switch probe(tmpBytes: tmpBytes, runtimeDirectory: runtimeDirectory, user: chosen, executable: executable) {
        case .success(let sandbox):
            let who = sandbox.user.map { "\($0.name), uid \($0.uid)" } ?? "the server's user"
            return Detection(
                sandbox: sandbox, summary: "sandbox (\(sandbox.version), /tmp \(tmpBytes / 1_048_576) MB, \(who))")
        case .failure(let missing):
            return Detection(sandbox: nil, summary: "process: no sandbox, \(missing.description)")
        }
    }

    /// What is missing for the sandbox.
    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
    }

    static func probe(
        tmpBytes: UInt64, runtimeDirectory: String, user: User?, executable name: String
    ) -> Result<
        Sandbox, Unavailable
    > {
        guard let executable = RuntimeEnvironmentBuilder.resolveExecutable(name) else {
            return .failure(Unavailable(description: "bubblewrap is not installed (no \(name) on PATH)"))
        }
        let userDirectory = userFilesDirectory(runtimeDirectory: runtimeDirectory)
        do {
            try writeRuntimeDirectory(at: runtimeDirectory)
            if let user { try writeUserFiles(at: userDirectory, user: user) }
        } catch {
            return .failure(Unavailable(description: "cannot write \(runtimeDirectory): \(error)"))
        }
        let versionRun = run(executable, ["--version"])
        guard versionRun.status == 0 else {
            return .failure(Unavailable(description: "\(executable) --version failed: \(versionRun.output)"))
        }
        let sandbox = Sandbox(
            executable: executable, version: versionRun.output, tmpBytes: tmpBytes,
            runtimeDirectory: runtimeDirectory, user: user,
            systemArguments: systemArguments(userFiles: user == nil ? nil : userDirectory))
        // A sandbox as an environment's, with the runtime directory standing in for code, and a process joining
        // it as a runtime does.
        let probe: (status: Int32, output: String)
        do {
            let holder = try sandbox.start(
                mounts: sandbox.mountArguments(taskRoot: runtimeDirectory, layerRoot: nil, binds: []), groupFiles: [],
                addressSpaceBytes: 0, batchScheduling: false, timeoutSeconds: 10)
            defer {
                holder.end()
                var status: Int32 = 0
                while waitpid(holder.pid, &status, 0) < 0 && errno == EINTR {}
            }
            probe = run(
                "/bin/sh", ["-c", "test -d /var/task && test -d /proc/self && : > /tmp/probe"], joining: holder,
                workingDirectory: taskRoot)
        } catch {
            probe = (-1, "\(error)")
        }
        guard probe.status == 0 else {
            let text = probe.output.isEmpty ? "exit status \(probe.status)" : probe.output
            if text.contains("namespace") {
                return .failure(
                    Unavailable(description: namespaceFailure(bwrapOutput: text, settings: .read())))
            }
            if text.contains("Operation not permitted") {
                return .failure(Unavailable(description: "cannot join the sandbox's namespaces: \(text)"))
            }
            return .failure(Unavailable(description: "bwrap failed: \(text)"))
        }
        return .success(sandbox)
    }

    /// The kernel's settings that decide whether a user other than root may create user namespaces, as read in
    /// the server's own user namespace (nil: the setting does not exist on this kernel).
    struct NamespaceSettings: Equatable {
        /// `/proc/sys/user/max_user_namespaces`: 0 disables them for everyone.
        var maxUserNamespaces: Int?
        /// `kernel.unprivileged_userns_clone` (Debian's and Ubuntu's older kernels): 0 keeps them for root.
        var unprivilegedClone: Int?
        /// `kernel.apparmor_restrict_unprivileged_userns` (Ubuntu since 23.10): 1 keeps them for programs that an
        /// AppArmor profile allows.
        var appArmorRestricts: Int?

        static func read() -> NamespaceSettings {
            func value(_ path: String) -> Int? {
                (try? String(contentsOfFile: path, encoding: .utf8)).flatMap {
                    Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
                }
            }
            return NamespaceSettings(
                maxUserNamespaces: value("/proc/sys/user/max_user_namespaces"),
                unprivilegedClone: value("/proc/sys/kernel/unprivileged_userns_clone"),
                appArmorRestricts: value("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"))
        }
    }

    /// Why bwrap could not create its namespaces, naming the setting at fault when one is (the start line says
    /// it once, `isolation: process: no sandbox, ...`); `bwrapOutput`: bwrap's own message, kept at the end.
    static func namespaceFailure(bwrapOutput: String, settings: NamespaceSettings) -> String {
        let cause: String
        if settings.maxUserNamespaces == 0 {
            cause = "user namespaces are disabled (/proc/sys/user/max_user_namespaces is 0)"
        } else if settings.unprivilegedClone == 0 {
            cause = "user namespaces are disabled for users other than root (kernel.unprivileged_userns_clone is 0)"
        } else if settings.appArmorRestricts == 1 {
            cause =
                "AppArmor restricts user namespaces to the programs its profiles allow"
                + " (kernel.apparmor_restrict_unprivileged_userns is 1; a profile for bwrap allows it)"
        } else {
            cause = "bwrap cannot create namespaces (no user namespaces for this user?)"
        }
        return "\(cause): \(bwrapOutput)"
    }

    /// Runs a short command and returns its exit status (-1: could not start or did not finish within 10 s) and
    /// its first output line.
    private static func run(
        _ executable: String, _ arguments: [String], joining holder: Holder? = nil, workingDirectory: String = "/"
    ) -> (
        status: Int32, output: String
    ) {
        let process: LaunchedProcess
        do {
            process = try ProcessLauncher.launch(
                executable: executable, arguments: arguments, environment: ["PATH=/usr/bin:/bin"],
                workingDirectory: workingDirectory, newSession: holder != nil, joining: holder)
        } catch {
            return (-1, "\(error)")
        }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = Date().addingTimeInterval(10)
        while output.count < 65536 {
            var poller = pollfd(fd: process.outputFD, events: Int16(POLLIN), revents: 0)
            let remaining = Int32(max(0, deadline.timeIntervalSinceNow) * 1000)
            guard poll(&poller, 1, remaining) == 1 else { break }
            let count = buffer.withUnsafeMutableBytes { read(process.outputFD, $0.baseAddress!, $0.count) }
            if count <= 0 { break }
            output += buffer[0..<count]
        }
        close(process.outputFD)
        ProcessLauncher.killGroup(process.pid)
        var status: Int32 = 0
        while waitpid(process.pid, &status, 0) < 0 && errno == EINTR {}
        let exited = status & 0x7f == 0 ? (status >> 8) & 0xff : -1
        let text = String(decoding: output, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
        return (exited, text)
    }

    /// `/var/runtime`: a `sitecustomize.py` that puts the layers' Python directories on `sys.path` right after
    /// `/var/task`, as AWS's Python runtime does, since `PYTHONPATH` is AWS's `/var/runtime` in the sandbox.
    /// Blocking (writes a file).
    public static func writeRuntimeDirectory(at directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let script = """
            # Written by Albatross (the sandbox's /var/runtime): the layers' Python directories follow /var/task on
            # sys.path, as on AWS Lambda. The Python version is the function's runtime (AWS_EXECUTION_ENV).
            import os as _os
            import sys as _sys

            _runtime = _os.environ.get("AWS_EXECUTION_ENV", "").rpartition("_")[2]
            if not _runtime.startswith("python"):
                _runtime = "python%d.%d" % _sys.version_info[:2]
            for _entry in reversed(["/opt/python/lib/%s/site-packages" % _runtime, "/opt/python"]):
                if _entry not in _sys.path:
                    _sys.path.insert(0, _entry)
            del _os, _sys, _runtime, _entry

            """
        let path = "\(directory)/sitecustomize.py"
        if (try? String(contentsOfFile: path, encoding: .utf8)) != script {
            try script.write(toFile: path, atomically: true, encoding: .utf8)
        }
    }

    /// Where the sandbox's `/etc/passwd` and `/etc/group` are written: `etc` beside the runtime directory.
    static func userFilesDirectory(runtimeDirectory: String) -> String {
        ((runtimeDirectory as NSString).deletingLastPathComponent as NSString).appendingPathComponent("etc")
    }

    /// The sandbox's `/etc/passwd` and `/etc/group` when it runs as `user`: root, `user` and nobody, as in a Lambda
    /// function (and nothing of the host's users). Blocking (writes files).
    static func writeUserFiles(at directory: String, user: User) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let files = [
            "passwd": """
            root:x:0:0:root:/root:/bin/bash
            \(user.name):x:\(user.uid):\(user.gid)::/home/\(user.name):/sbin/nologin
            nobody:x:65534:65534:Kernel Overflow User:/:/sbin/nologin

            """,
            "group": """
            root:x:0:
            nobody:x:65534:

            """,
        ]
        for (name, text) in files {
            let path = "\(directory)/\(name)"
            if (try? String(contentsOfFile: path, encoding: .utf8)) != text {
                try text.write(toFile: path, atomically: true, encoding: .utf8)
            }
            chmod(path, 0o644)
        }
    }

    /// The host's `/usr` and its siblings: a link stays a link (`/bin -> usr/bin` on a merged-/usr system), a
    /// directory is mounted read-only. `/etc/passwd` and `/etc/group` are those of `userFiles` when given
    /// (``writeUserFiles(at:user:)``), else the host's.
    static func systemArguments(userFiles: String? = nil) -> [String] {
        var arguments = ["--ro-bind", "/usr", "/usr"]
        for name in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
            let path = "/\(name)"
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) {
                arguments += ["--symlink", target, path]
            } else if FileManager.default.fileExists(atPath: path) {
                arguments += ["--ro-bind", path, path]
            }
        }
        for name in etcEntries {
            if let userFiles, name == "passwd" || name == "group" {
                arguments += ["--ro-bind", "\(userFiles)/\(name)", "/etc/\(name)"]
            } else {
                arguments += ["--ro-bind-try", "/etc/\(name)", "/etc/\(name)"]
            }
        }
        return arguments
    }

    // MARK: the environment's sandbox

    /// A host directory mounted read-only inside the sandbox.
    struct Bind: Hashable {
        var source: String
        var destination: String
    }

    /// bwrap's mounts for a code package: the system part, the private `/proc`, `/dev` and `/tmp`, the code at
    /// `/var/task`, the layers at `/opt`, `/var/runtime` and `binds`; the root read-only.
    func mountArguments(taskRoot: String, layerRoot: String?, binds: [Bind]) -> [String] {
        var arguments = systemArguments
        arguments += ["--proc", "/proc", "--dev", "/dev"]
        arguments += ["--perms", "1777", "--size", String(tmpBytes), "--tmpfs", "/tmp"]
        arguments += ["--ro-bind", taskRoot, Self.taskRoot]
        if let layerRoot {
            arguments += ["--ro-bind", layerRoot, Self.optRoot]
        } else {
            arguments += ["--dir", Self.optRoot]
        }
        arguments += ["--ro-bind", runtimeDirectory, Self.runtimeRoot]
        for bind in binds { arguments += ["--ro-bind", bind.source, bind.destination] }
        return Self.parentDirectories(of: arguments) + arguments + ["--remount-ro", "/"]
    }

    /// `--perms 0755 --dir` for every directory above a mount point of `arguments` that bwrap would otherwise make
    /// itself, with mode 0700 (`/etc`, `/etc/ssl`, `/var`, a Python prefix's parents): the sandbox's user, who is
    /// not root, could not reach what is mounted below them. Parents at or under a bind mount (`/usr/...`) are
    /// the host's own directories and are left alone.
    static func parentDirectories(of arguments: [String]) -> [String] {
        var destinations: [String] = []
        var bound: [String] = []
        var index = 0
        while index < arguments.count {
            switch arguments[index] {
            case "--ro-bind", "--ro-bind-try", "--bind":
                guard index + 2 < arguments.count else { return [] }
                destinations.append(arguments[index + 2])
                bound.append(arguments[index + 2])
                index += 3
            case "--symlink":
                guard index + 2 < arguments.count else { return [] }
                destinations.append(arguments[index + 2])
                index += 3
            case "--proc", "--dev", "--tmpfs", "--dir":
                guard index + 1 < arguments.count else { return [] }
                destinations.append(arguments[index + 1])
                index += 2
            case "--perms", "--size", "--remount-ro":
                index += 2
            default:
                index += 1
            }
        }
        func underBind(_ path: String) -> Bool {
            bound.contains { path == $0 || path.hasPrefix($0 + "/") }
        }
        var parents: Set<String> = []
        for destination in destinations {
            var parent = (destination as NSString).deletingLastPathComponent
            while parent != "/" && !parent.isEmpty {
                if !underBind(parent) && !destinations.contains(parent) { parents.insert(parent) }
                parent = (parent as NSString).deletingLastPathComponent
            }
        }
        return parents.sorted { ($0.split(separator: "/").count, $0) < ($1.split(separator: "/").count, $1) }
            .flatMap { ["--perms", "0755", "--dir", $0] }
    }

    /// bwrap's mounts for a container image: the rootfs read-only as `/` (as Lambda's image file system is), with
    /// the private `/proc`, `/dev` and `/tmp` of every environment (the unpacker makes their mount points). Nothing
    /// of the host's file system is mounted.
    func imageMountArguments(_ image: ImageRun) -> [String] {
        ["--ro-bind", image.rootfs, "/", "--proc", "/proc", "--dev", "/dev"]
            + ["--perms", "1777", "--size", String(tmpBytes), "--tmpfs", "/tmp"]
    }

    /// bwrap's arguments for the sandbox of one environment, given its mounts: new PID, IPC and UTS namespaces (and
    /// the mount namespace bwrap always makes), no capabilities, and a sandbox init that waits. bwrap's pid 1 sets
    /// everything up, drops its privileges, then blocks reading its standard input (`--block-fd 0`, a pipe whose
    /// write end the server holds) before it would fork the command: it stays there, pid 1 of the namespace, for
    /// the environment's life, and the runtime and its extensions join it (``ProcessLauncher`` with `joining`).
    /// `--info-fd 1` reports its host pid on standard output. The command (`true`) runs only if the pipe reaches
    /// EOF, when the server is gone: bwrap's init then waits for what is left and the namespace ends.
    ///
    /// `mappedUser`: a server that is not root cannot change its user; bwrap's user namespace then maps the server's
    /// user to this one (`--uid`, `--gid`), and the processes that join it are that user inside.
    static func holderArguments(mounts: [String], mappedUser: User? = nil) -> [String] {
        var arguments = mounts
        if let mappedUser {
            arguments += ["--unshare-user", "--uid", String(mappedUser.uid), "--gid", String(mappedUser.gid)]
        }
        return arguments + [
            "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--cap-drop", "ALL", "--info-fd",
            "1", "--block-fd", "0", "--", "true",
        ]
    }

    /// How the sandbox's processes become ``user``: root changes user as it drops its capabilities (`runAs`) when
    /// that user exists in its user namespace; any other server (and root in a user namespace that maps only some
    /// ids, as in a rootless container) has bwrap's user namespace map it.
    func userSwitch(canSwitch: Bool = Self.canSwitchUser) -> (runAs: User?, mapped: User?) {
        canSwitch ? (user, nil) : (nil, user)
    }

    /// Whether this process may become ``User/lambda`` itself: root, with its uid and gid mapped in its user
    /// namespace (always, in the host's).
    static let canSwitchUser: Bool = {
        guard geteuid() == 0 else { return false }
        func mapped(_ id: UInt32, in file: String) -> Bool {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return false }
            return text.split(separator: "\n").contains { line in
                let fields = line.split(separator: " ").compactMap { UInt64($0) }
                return fields.count == 3 && UInt64(id) >= fields[0] && UInt64(id) < fields[0] + fields[2]
            }
        }
        return mapped(User.lambda.uid, in: "/proc/self/uid_map") && mapped(User.lambda.gid, in: "/proc/self/gid_map")
    }()

    /// An environment's sandbox, running: bwrap (the process the platform started, in a session and process group
    /// of its own and in the environment's control groups) and its pid 1, the init of the sandbox's namespaces,
    /// which the runtime and the extensions join. Ended by ``end()``: SIGKILL to the init ends the PID namespace,
    /// and so everything in it, whatever left its session or process group; bwrap then exits too.
    struct Holder: Sendable, Hashable {
        /// bwrap's pid (also its process group).
        var pid: pid_t
        /// The sandbox's pid 1 as the host sees it.
        var initPID: pid_t
        /// A pidfd of the init: a signal that cannot reach another process once its pid is reused.
        var initFD: Int32
        /// The write end of the init's standard input: while it is open, the init waits.
        var blockFD: Int32
        /// The user each process that joins becomes (root's server); nil: it keeps the server's (mapped by the
        /// user namespace, when the server is not root).
        var runAs: User?

        /// Kills the sandbox's init (and so the sandbox) and closes the descriptors. Call once.
        func end() {
            _ = albatross_pidfd_signal(initFD, SIGKILL)
            close(initFD)
            close(blockFD)
        }
    }

    /// Starts the sandbox of an environment and returns once its init is ready to be joined (its mounts are done
    /// and its privileges dropped: its effective capabilities read 0). Blocking (spawns, reads `/proc`): call on
    /// the thread pool, as for a runtime.
    func start(
        spec: EnvironmentSpec, groupFiles: [String] = [], addressSpaceBytes: UInt64 = 0, timeoutSeconds: Double = 10
    ) throws -> Holder {
        try start(
            mounts: mounts(for: spec), groupFiles: groupFiles, addressSpaceBytes: addressSpaceBytes,
            batchScheduling: spec.batchScheduling, timeoutSeconds: timeoutSeconds)
    }

    /// The mounts of `spec`'s sandbox. A Python runtime's interpreter brings its prefix
    /// (``interpreterBinds(_:)``). Blocking (reads the file system).
    func mounts(for spec: EnvironmentSpec) -> [String] {
        if let image = spec.image { return imageMountArguments(image) }
        var binds: [Bind] = []
        if spec.function.runtime.kind == .python, let command = try? RuntimeEnvironmentBuilder.command(spec: spec) {
            binds = Self.interpreterBinds(command.executable).1
        }
        return mountArguments(taskRoot: spec.taskRoot, layerRoot: spec.layerRoot, binds: binds)
    }

    func start(
        mounts: [String], groupFiles: [String], addressSpaceBytes: UInt64, batchScheduling: Bool,
        timeoutSeconds: Double
    ) throws -> Holder {
        var block: [Int32] = [-1, -1]
        let pipeResult = block.withUnsafeMutableBufferPointer { albatross_pipe_cloexec($0.baseAddress!) }
        guard pipeResult == 0 else { throw LaunchError(description: "cannot create a pipe: \(errnoText(pipeResult))") }
        defer { close(block[0]) }
        let process: LaunchedProcess
        do {
            process = try ProcessLauncher.launch(
                executable: executable,
                arguments: Self.holderArguments(mounts: mounts, mappedUser: userSwitch().mapped),
                environment: ["PATH=/usr/bin:/bin"], workingDirectory: "/", groupFiles: groupFiles,
                addressSpaceBytes: addressSpaceBytes, standardInput: block[0], newSession: true,
                batchScheduling: batchScheduling)
        } catch {
            close(block[1])
            throw error
        }
        defer { close(process.outputFD) }
        func fail(_ why: String) -> LaunchError {
            ProcessLauncher.killGroup(process.pid)
            var status: Int32 = 0
            while waitpid(process.pid, &status, 0) < 0 && errno == EINTR {}
            close(block[1])
            return LaunchError(description: "the sandbox did not start: \(why)")
        }
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        // `{ "child-pid": N, ... }` on the info descriptor, or bwrap's error message and EOF.
        var output: [UInt8] = []
        var initPID: pid_t?
        var buffer = [UInt8](repeating: 0, count: 1024)
        while initPID == nil {
            var poller = pollfd(fd: process.outputFD, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(max(0, deadline.timeIntervalSinceNow) * 1000)) == 1 else {
                throw fail("no word from bwrap within \(timeoutSeconds) s")
            }
            let count = buffer.withUnsafeMutableBytes { read(process.outputFD, $0.baseAddress!, $0.count) }
            if count <= 0 {
                let text = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                throw fail(text.isEmpty ? "bwrap exited" : text)
            }
            output += buffer[0..<count]
            initPID = Self.childPID(inInfo: String(decoding: output, as: UTF8.self))
        }
        guard let initPID else { throw fail("no child-pid") }
        // Ready once its effective capabilities are gone: the last step before it blocks on its standard input.
        while !Self.capabilitiesDropped(initPID) {
            var status: Int32 = 0
            if waitpid(process.pid, &status, WNOHANG) == process.pid {
                close(block[1])
                let text = String(decoding: output, as: UTF8.self)
                throw LaunchError(description: "the sandbox did not start: bwrap exited (\(text))")
            }
            guard Date() < deadline else { throw fail("its init was not ready within \(timeoutSeconds) s") }
            usleep(200)
        }
        let initFD = albatross_pidfd_open(initPID)
        guard initFD >= 0 else { throw fail("pidfd_open: \(errnoText(errno))") }
        return Holder(pid: process.pid, initPID: initPID, initFD: initFD, blockFD: block[1], runAs: userSwitch().runAs)
    }

    /// `"child-pid": N` of bwrap's info JSON, once the object is complete.
    static func childPID(inInfo text: String) -> pid_t? {
        guard text.contains("}"), let key = text.range(of: "\"child-pid\":") else { return nil }
        let digits = text[key.upperBound...].drop { $0 == " " }.prefix { $0.isNumber }
        return pid_t(digits)
    }

    /// Whether `/proc/<pid>/status` says `CapEff: 0000000000000000` (false when it cannot be read).
    static func capabilitiesDropped(_ pid: pid_t) -> Bool {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return false }
        return text.split(separator: "\n").contains { $0 == "CapEff:\t0000000000000000" }
    }

    /// A process to run in an environment's sandbox: what ``ProcessLauncher`` gets with `joining`.
    struct Joined: Equatable {
        /// A path inside the sandbox, or a name looked up in the process's `PATH` (an image's ENTRYPOINT).
        var executable: String
        var arguments: [String]
        /// Inside the sandbox.
        var workingDirectory: String
    }

    /// The runtime's command as it runs in the sandbox: host paths under the task root and the layers become
    /// `/var/task/...` and `/opt/...`; a Python interpreter runs from `/var/lang` when it is a venv's
    /// (``interpreterBinds(_:)``). An image runs ENTRYPOINT + CMD in its working directory. Blocking (reads the
    /// file system).
    static func runtimeCommand(spec: EnvironmentSpec) throws -> Joined {
        if let image = spec.image {
            return Joined(
                executable: image.arguments[0], arguments: Array(image.arguments.dropFirst()),
                workingDirectory: image.workingDirectory)
        }
        let command = try RuntimeEnvironmentBuilder.command(spec: spec)
        var executable = command.executable
        if spec.function.runtime.kind == .python { executable = interpreterBinds(command.executable).0 }
        func inside(_ path: String) -> String {
            map(path, from: spec.taskRoot, to: taskRoot)
                ?? spec.layerRoot.flatMap { map(path, from: $0, to: optRoot) } ?? path
        }
        return Joined(
            executable: inside(executable), arguments: command.arguments.map(inside), workingDirectory: taskRoot)
    }

    /// An external extension (a file of `/opt/extensions`) as it runs in the sandbox: in the runtime's working
    /// directory, as on AWS.
    static func extensionCommand(name: String, spec: EnvironmentSpec) -> Joined {
        Joined(
            executable: "\(optRoot)/extensions/\(name)", arguments: [],
            workingDirectory: spec.image?.workingDirectory ?? taskRoot)
    }

    /// `path` with the prefix `root` replaced by `destination`; nil when it is not under `root`.
    static func map(_ path: String, from root: String, to destination: String) -> String? {
        let root = root.hasSuffix("/") ? String(root.dropLast()) : root
        if path == root { return destination }
        guard path.hasPrefix(root + "/") else { return nil }
        return destination + path.dropFirst(root.count)
    }

    /// Where a Python interpreter runs from in the sandbox and what it needs mounted. A venv's interpreter
    /// (`<venv>/bin/python` beside `<venv>/pyvenv.cfg`) runs as `/var/lang/bin/python`, its venv mounted at
    /// `/var/lang` (where AWS keeps its interpreter and its site-packages), with the base interpreter's prefix
    /// (the venv's `home`) at its own path unless it is under `/usr`. An interpreter outside a venv runs at its own
    /// path, its prefix mounted when it is not under `/usr`.
    static func interpreterBinds(_ interpreter: String) -> (String, [Bind]) {
        let bin = (interpreter as NSString).deletingLastPathComponent
        let prefix = (bin as NSString).deletingLastPathComponent
        var binds: [Bind] = []
        func addPrefix(ofBinDirectory directory: String) {
            let resolved = (directory as NSString).resolvingSymlinksInPath
            guard !resolved.hasPrefix("/usr/"), resolved != "/usr" else { return }
            let prefix = (resolved as NSString).deletingLastPathComponent
            guard prefix != "/", !prefix.isEmpty else { return }
            binds.append(Bind(source: prefix, destination: prefix))
        }
        let configuration = "\(prefix)/pyvenv.cfg"
        if (bin as NSString).lastPathComponent == "bin",
            let text = try? String(contentsOfFile: configuration, encoding: .utf8)
        {
            binds.append(Bind(source: prefix, destination: languageRoot))
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if parts.count == 2, parts[0] == "home" { addPrefix(ofBinDirectory: parts[1]) }
            }
            // The link's target, when the venv's interpreter is a link out of `home` (a copied venv).
            let real = (interpreter as NSString).resolvingSymlinksInPath
            addPrefix(ofBinDirectory: (real as NSString).deletingLastPathComponent)
            let name = (interpreter as NSString).lastPathComponent
            return ("\(languageRoot)/bin/\(name)", Array(Set(binds)).sorted { $0.destination < $1.destination })
        }
        let real = (interpreter as NSString).resolvingSymlinksInPath
        addPrefix(ofBinDirectory: (real as NSString).deletingLastPathComponent)
        return (real, binds)
    }
}
