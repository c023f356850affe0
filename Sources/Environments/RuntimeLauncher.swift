import Foundation
import InvocationModel
import LambdaModel

/// The one place that decides how a function's runtime process is started and signalled: as a plain child
/// process (``ProcessLauncher``), or inside the environment's sandbox (``Sandbox``, when
/// ``EnvironmentSpec/sandbox`` is set). The environment, the bench's bare launcher and anything else that starts a
/// runtime go through here, so that the isolation mode cannot differ between them by accident.
enum RuntimeLauncher {
    /// Starts the runtime. Blocking (fork/exec, file checks): call from a thread of ``EnvironmentSpec/threadPool``
    /// (see ``ProcessLauncher``).
    ///
    /// - Parameters:
    ///   - groupFiles: the control groups the process joins before exec (bwrap's, in the sandbox: everything the
    ///     sandbox runs is inside them).
    ///   - addressSpaceBytes: RLIMIT_AS (0: none).
    static func launch(
        spec: EnvironmentSpec, runtimeAPI: String, logStreamName: String, logGroupName: String,
        scratchDirectory: String?, initializationType: InvocationEvent.InitializationType = .onDemand,
        groupFiles: [String] = [], addressSpaceBytes: UInt64 = 0
    ) throws -> LaunchedProcess {
        let environment = RuntimeEnvironmentBuilder.variables(
            spec: spec, runtimeAPI: runtimeAPI, logStreamName: logStreamName, logGroupName: logGroupName,
            scratchDirectory: scratchDirectory, initializationType: initializationType)
        var command: RuntimeEnvironmentBuilder.Command
        if let image = spec.image {
            // Checked at start too; this is for a configuration reloaded with an image while in process mode.
            guard let sandbox = spec.sandbox else {
                throw RuntimeCommandError(
                    errorType: "Runtime.InvalidEntrypoint",
                    message: "function \(spec.function.name) runs a container image, which needs the sandbox "
                        + "isolation mode; this server runs in process mode")
            }
            command = sandbox.imageCommand(image)
        } else {
            command = try RuntimeEnvironmentBuilder.command(spec: spec)
        }
        if spec.image == nil, let sandbox = spec.sandbox {
            command = sandbox.wrap(command, spec: spec, isPython: spec.function.runtime.kind == .python)
        }
        return try ProcessLauncher.launch(
            executable: command.executable, arguments: command.arguments, environment: environment,
            workingDirectory: spec.taskRoot, groupFiles: groupFiles, addressSpaceBytes: addressSpaceBytes,
            newSession: spec.sandbox != nil, batchScheduling: spec.batchScheduling)
    }

    /// SIGTERM to what the runtime runs: its process group; in the sandbox, every member but bwrap (whose death
    /// would end the sandbox at once, without the grace period). Blocking in the sandbox (reads `/proc`): call
    /// off the event loops then.
    static func terminate(_ pid: pid_t, sandboxed: Bool) {
        if sandboxed {
            ProcessLauncher.signalGroupSparingLeader(pid, SIGTERM)
        } else {
            ProcessLauncher.signalGroup(pid, SIGTERM)
        }
    }

    /// How the runtime ended, from how its process ended: in the sandbox, bwrap reports a runtime killed by
    /// signal n as exit status 128 + n (as a shell does), so such a status is read as the signal. A runtime that
    /// itself exits with 129–192 is then misreported as signalled: the price of not seeing its own wait status.
    static func exit(_ exit: ProcessExit, sandboxed: Bool) -> ProcessExit {
        guard sandboxed, case .exited(let code) = exit, code > 128, code <= 128 + 64 else { return exit }
        return .signaled(code - 128)
    }
}
