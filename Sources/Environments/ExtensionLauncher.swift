import Foundation

/// Starts the external extensions of an environment (runtime-api.md §1.9, §2.2): every executable file directly in
/// the merged layers' `extensions/` directory (AWS's `/opt/extensions/`), in name order, before the runtime, each
/// with the runtime's environment variables, working directory and control groups, in a process group of its own.
/// In the sandbox they join the environment's sandbox, the one the runtime joins after them: one `/tmp`, one PID
/// namespace, the same mounts, as on AWS.
///
/// The one place where extension processes are started, so that a change to how processes are launched (the
/// sandbox) has one more caller to look at, here. Blocking (directory listing, fork/exec): call on the thread pool.
enum ExtensionLauncher {
    /// A started extension: its file name (what it registers as) and its process.
    struct Started: Sendable {
        var name: String
        var process: LaunchedProcess
    }

    /// The executables of `<layerRoot>/extensions`, sorted by name (none without layers).
    static func executables(layerRoot: String?) -> [String] {
        guard let layerRoot else { return [] }
        let directory = "\(layerRoot)/extensions"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return names.sorted().filter { name in
            var isDirectory: ObjCBool = false
            let path = "\(directory)/\(name)"
            return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
                && access(path, X_OK) == 0
        }
    }

    /// Starts every extension of `spec` (in `sandbox`, the environment's, when ``EnvironmentSpec/sandbox`` is set).
    /// One that cannot start is returned in `failed` with the reason (AWS then fails INIT with
    /// `Extension.LaunchError`); those already started keep running.
    static func launchAll(
        spec: EnvironmentSpec, environment: [String], sandbox holder: Sandbox.Holder?, groupFiles: [String],
        addressSpaceBytes: UInt64
    ) -> (started: [Started], failed: (name: String, reason: String)?) {
        var started: [Started] = []
        // A container image brings its extensions in its own /opt/extensions, and runs only in the sandbox.
        if spec.image != nil && spec.sandbox == nil { return ([], nil) }
        let root = spec.image.map { "\($0.rootfs)/opt" } ?? spec.layerRoot
        for name in executables(layerRoot: root) {
            do {
                let process: LaunchedProcess
                if spec.sandbox != nil {
                    guard let holder else { throw LaunchError(description: "no sandbox to run the extension in") }
                    let command = Sandbox.extensionCommand(name: name, spec: spec)
                    process = try ProcessLauncher.launch(
                        executable: command.executable, arguments: command.arguments, environment: environment,
                        workingDirectory: command.workingDirectory, groupFiles: groupFiles,
                        addressSpaceBytes: addressSpaceBytes, joining: holder)
                } else {
                    process = try ProcessLauncher.launch(
                        executable: "\(root!)/extensions/\(name)", arguments: [], environment: environment,
                        workingDirectory: spec.taskRoot, groupFiles: groupFiles, addressSpaceBytes: addressSpaceBytes)
                }
                started.append(Started(name: name, process: process))
            } catch {
                return (started, (name, "\(error)"))
            }
        }
        return (started, nil)
    }
}
