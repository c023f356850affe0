import Foundation
import InvocationModel
import LambdaModel

/// The one place that decides how a function's runtime process is started and signalled: as a plain child
/// process (``ProcessLauncher``), or inside the environment's sandbox (``Sandbox``, when
/// ``EnvironmentSpec/sandbox`` is set), which it joins (``Sandbox/Holder``). The environment, the bench's bare
/// launcher and anything else that starts a runtime go through here, so that the isolation mode cannot differ
/// between them by accident.
enum RuntimeLauncher {
    /// Starts the runtime. Blocking (fork/exec, file checks): call from a thread of ``EnvironmentSpec/threadPool``
    /// (see ``ProcessLauncher``).
    ///
    /// - Parameters:
    ///   - sandbox: the environment's sandbox (required when ``EnvironmentSpec/sandbox`` is set).
    ///   - groupFiles: the control groups the process joins before exec (before it joins the sandbox).
    ///   - addressSpaceBytes: RLIMIT_AS (0: none).
    static func launch(
        spec: EnvironmentSpec, runtimeAPI: String, logStreamName: String, logGroupName: String,
        scratchDirectory: String?, initializationType: InvocationEvent.InitializationType = .onDemand,
        sandbox holder: Sandbox.Holder? = nil, groupFiles: [String] = [], addressSpaceBytes: UInt64 = 0
    ) throws -> LaunchedProcess {
        let environment = RuntimeEnvironmentBuilder.variables(
            spec: spec, runtimeAPI: runtimeAPI, logStreamName: logStreamName, logGroupName: logGroupName,
            scratchDirectory: scratchDirectory, initializationType: initializationType)
        guard spec.sandbox != nil else {
            if spec.image != nil {
                // Checked at start too; this is for a configuration reloaded with an image while in process mode.
                throw RuntimeCommandError(
                    errorType: "Runtime.InvalidEntrypoint",
                    message: "function \(spec.function.name) runs a container image, which needs the sandbox "
                        + "isolation mode; this server runs in process mode")
            }
            let command = try RuntimeEnvironmentBuilder.command(spec: spec)
            return try ProcessLauncher.launch(
                executable: command.executable, arguments: command.arguments, environment: environment,
                workingDirectory: spec.taskRoot, groupFiles: groupFiles, addressSpaceBytes: addressSpaceBytes,
                batchScheduling: spec.batchScheduling)
        }
        guard let holder else { throw LaunchError(description: "no sandbox to run the runtime in") }
        let command = try Sandbox.runtimeCommand(spec: spec)
        // A session of its own: nothing of the sandbox has the server's terminal (no /dev/tty, so no TIOCSTI).
        return try ProcessLauncher.launch(
            executable: command.executable, arguments: command.arguments, environment: environment,
            workingDirectory: command.workingDirectory, groupFiles: groupFiles, addressSpaceBytes: addressSpaceBytes,
            newSession: true, batchScheduling: spec.batchScheduling, joining: holder)
    }

    /// SIGTERM to what the runtime runs: its process group (in the sandbox too: the runtime is the platform's own
    /// child there as well, and bwrap is not in its group).
    static func terminate(_ pid: pid_t) {
        ProcessLauncher.signalGroup(pid, SIGTERM)
    }
}
