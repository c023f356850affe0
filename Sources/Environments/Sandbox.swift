import Foundation

/// The `sandbox` isolation mode: each runtime runs inside a bubblewrap (`bwrap`) sandbox laid out as Lambda's
/// execution environment, so that a function sees what it would see on AWS and nothing of the host that it
/// should not.
///
/// The layout (runtime-api.md §3.2, §3.3): a read-only root made of the host's `/usr` (and the `/bin`, `/lib`,
/// ... links or directories beside it) and an allowlist of `/etc` files; the function's code read-only at
/// `/var/task` (also the working directory); its merged layers read-only at `/opt`; Albatross's runtime
/// directory read-only at `/var/runtime`; for Python, the interpreter's venv read-only at `/var/lang` (AWS's
/// interpreter lives in `/var/lang/bin`); a private `/tmp` tmpfs of ``tmpBytes``; a private `/proc` and `/dev`.
/// Nothing else of the host is mounted: not the data directory, not other functions' code, not `/home` or
/// `/root`. Namespaces: PID (the runtime sees only its own tree), IPC and UTS; the network is the host's, since
/// the runtime reaches its Runtime API on 127.0.0.1. No capabilities, no new privileges (bwrap sets
/// `PR_SET_NO_NEW_PRIVS`), and `--die-with-parent`.
///
/// Processes and signals: bwrap is the process the platform starts (its pid is the environment's process group
/// and the pid the reaper waits for; it joins the environment's control group before it runs, so the whole
/// sandbox is inside it). bwrap exits as soon as the runtime does, with its status (128 + n for a signal n),
/// and the sandbox's PID namespace dies with it: everything the runtime left is killed. A SIGKILL to the group
/// kills bwrap and so the namespace; a SIGTERM must spare bwrap (see
/// ``ProcessLauncher/signalGroupSparingLeader(_:_:)``). bwrap's `--new-session` is not used: it would put the
/// runtime in a process group of its own, out of the group's reach; the platform instead starts bwrap in a
/// session of its own, which detaches the whole sandbox from the server's terminal just the same.
///
/// The runtime's environment is exactly the function's: bwrap is started with it (and passes it on unchanged),
/// which has the effect of `--clearenv` without putting values on bwrap's command line, where `ps` would show
/// them.
public struct Sandbox: Sendable, Hashable {
    /// The `bwrap` executable.
    public var executable: String
    /// `bubblewrap 0.8.0`, from `bwrap --version`.
    public var version: String
    /// The size of each environment's `/tmp`.
    public var tmpBytes: UInt64
    /// The host directory mounted at `/var/runtime` (``writeRuntimeDirectory(at:)``).
    public var runtimeDirectory: String
    /// The arguments of the read-only system part of the root, computed once from the host's `/`.
    var systemArguments: [String]

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
    ///   - runtimeDirectory: where to write the `/var/runtime` directory (under the data directory).
    ///   - executable: bwrap's name (searched on PATH) or path.
    public static func detect(
        mode: Mode, tmpBytes: UInt64, runtimeDirectory: String, executable: String = "bwrap"
    ) -> Detection {
        if mode == .process { return Detection(sandbox: nil, summary: "process (environments.isolation: process)") }
        switch probe(tmpBytes: tmpBytes, runtimeDirectory: runtimeDirectory, executable: executable) {
        case .success(let sandbox):
            return Detection(sandbox: sandbox, summary: "sandbox (\(sandbox.version), /tmp \(tmpBytes / 1_048_576) MB)")
        case .failure(let missing):
            return Detection(sandbox: nil, summary: "process: no sandbox, \(missing.description)")
        }
    }

    /// What is missing for the sandbox.
    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
    }

    static func probe(
        tmpBytes: UInt64, runtimeDirectory: String, executable name: String
    ) -> Result<
        Sandbox, Unavailable
    > {
        guard let executable = RuntimeEnvironmentBuilder.resolveExecutable(name) else {
            return .failure(Unavailable(description: "bubblewrap is not installed (no \(name) on PATH)"))
        }
        do {
            try writeRuntimeDirectory(at: runtimeDirectory)
        } catch {
            return .failure(Unavailable(description: "cannot write \(runtimeDirectory): \(error)"))
        }
        let versionRun = run(executable, ["--version"])
        guard versionRun.status == 0 else {
            return .failure(Unavailable(description: "\(executable) --version failed: \(versionRun.output)"))
        }
        let sandbox = Sandbox(
            executable: executable, version: versionRun.output, tmpBytes: tmpBytes,
            runtimeDirectory: runtimeDirectory, systemArguments: systemArguments())
        // The same arguments as a runtime's, with the runtime directory standing in for code.
        let arguments = sandbox.arguments(
            taskRoot: runtimeDirectory, layerRoot: nil, binds: [], executable: "/bin/sh",
            commandArguments: ["-c", "test -d /var/task && test -d /proc/self && : > /tmp/probe"])
        let probe = run(executable, arguments, newSession: true)
        guard probe.status == 0 else {
            let text = probe.output.isEmpty ? "exit status \(probe.status)" : probe.output
            if text.contains("namespace") {
                return .failure(Unavailable(description: "bwrap cannot create namespaces (user namespaces?): \(text)"))
            }
            return .failure(Unavailable(description: "bwrap failed: \(text)"))
        }
        return .success(sandbox)
    }

    /// Runs a short command and returns its exit status (-1: could not start or did not finish within 10 s) and
    /// its first output line.
    private static func run(
        _ executable: String, _ arguments: [String], newSession: Bool = false
    ) -> (
        status: Int32, output: String
    ) {
        let process: LaunchedProcess
        do {
            process = try ProcessLauncher.launch(
                executable: executable, arguments: arguments, environment: ["PATH=/usr/bin:/bin"],
                workingDirectory: "/", newSession: newSession)
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

    /// The host's `/usr` and its siblings: a link stays a link (`/bin -> usr/bin` on a merged-/usr system), a
    /// directory is mounted read-only.
    static func systemArguments() -> [String] {
        var arguments = ["--ro-bind", "/usr", "/usr"]
        for name in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
            let path = "/\(name)"
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) {
                arguments += ["--symlink", target, path]
            } else if FileManager.default.fileExists(atPath: path) {
                arguments += ["--ro-bind", path, path]
            }
        }
        for name in etcEntries { arguments += ["--ro-bind-try", "/etc/\(name)", "/etc/\(name)"] }
        return arguments
    }

    // MARK: a runtime's command line

    /// A host directory mounted read-only inside the sandbox.
    struct Bind: Hashable {
        var source: String
        var destination: String
    }

    /// bwrap's arguments to run `executable` (a path inside the sandbox) with `commandArguments`.
    func arguments(
        taskRoot: String, layerRoot: String?, binds: [Bind], executable: String, commandArguments: [String]
    ) -> [String] {
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
        arguments += [
            "--remount-ro", "/", "--chdir", Self.taskRoot, "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--die-with-parent", "--cap-drop", "ALL", "--", executable,
        ]
        return arguments + commandArguments
    }

    /// bwrap's command for a container image: the rootfs read-only as `/` (as Lambda's image file system is), with
    /// the private `/proc`, `/dev` and `/tmp` of every environment (the unpacker makes their mount points), the
    /// image's working directory, and ENTRYPOINT + CMD run as they are (the executable is looked up in the PATH of
    /// the runtime's environment, the image's ENV). Nothing of the host's file system is mounted; the network is
    /// still the host's, so the Runtime API stays reachable on 127.0.0.1.
    func imageCommand(_ image: ImageRun, executable: String? = nil) -> RuntimeEnvironmentBuilder.Command {
        var arguments = ["--ro-bind", image.rootfs, "/", "--proc", "/proc", "--dev", "/dev"]
        arguments += ["--perms", "1777", "--size", String(tmpBytes), "--tmpfs", "/tmp"]
        arguments += [
            "--chdir", image.workingDirectory, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
            "--cap-drop", "ALL", "--",
        ]
        let command = executable.map { [$0] } ?? image.arguments
        return RuntimeEnvironmentBuilder.Command(executable: self.executable, arguments: arguments + command)
    }

    /// The runtime's command as it runs in the sandbox: host paths under the task root and the layers become
    /// `/var/task/...` and `/opt/...`; a Python interpreter brings its prefix (``interpreterBinds(_:)``).
    /// Blocking (reads the file system).
    func wrap(
        _ command: RuntimeEnvironmentBuilder.Command, spec: EnvironmentSpec, isPython: Bool
    )
        -> RuntimeEnvironmentBuilder.Command
    {
        var binds: [Bind] = []
        var executable = command.executable
        if isPython {
            let (interpreter, interpreterBinds) = Self.interpreterBinds(command.executable)
            executable = interpreter
            binds = interpreterBinds
        }
        func inside(_ path: String) -> String {
            Self.map(path, from: spec.taskRoot, to: Self.taskRoot)
                ?? spec.layerRoot.flatMap { Self.map(path, from: $0, to: Self.optRoot) } ?? path
        }
        return RuntimeEnvironmentBuilder.Command(
            executable: self.executable,
            arguments: arguments(
                taskRoot: spec.taskRoot, layerRoot: spec.layerRoot, binds: binds, executable: inside(executable),
                commandArguments: command.arguments.map(inside)))
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
