import Foundation
import InvocationModel
import LambdaModel

/// An error starting the runtime, with the error type AWS reports for it.
struct RuntimeCommandError: Error, CustomStringConvertible {
    var errorType: String
    var message: String
    var description: String { "\(errorType): \(message)" }
}

/// Builds the command line and the process environment of a runtime (runtime-api.md §3.1, §6).
enum RuntimeEnvironmentBuilder {
    /// Names a user may set although the platform also sets them (RAPID's overridable set).
    static let overridable: Set<String> = [
        "AWS_LAMBDA_LOG_FORMAT", "AWS_LAMBDA_LOG_LEVEL", "AWS_XRAY_CONTEXT_MISSING", "AWS_XRAY_DAEMON_ADDRESS",
        "LANG", "OTEL_EXPORTER_OTLP_ENDPOINT", "LD_LIBRARY_PATH", "PATH", "TZ", "TMPDIR",
    ]

    /// The platform's variables an image's ENV replaces (those describing its own file system).
    static let imageOwned: Set<String> = ["PATH", "LD_LIBRARY_PATH", "LANG", "TZ"]

    /// `KEY=value` strings for `posix_spawn`. The runtime gets a clean environment, as on AWS: nothing of the
    /// server's own environment leaks into it except AWS credentials, which stand in for the execution role.
    static func variables(
        spec: EnvironmentSpec, runtimeAPI: String, logStreamName: String, logGroupName: String,
        scratchDirectory: String? = nil, initializationType: InvocationEvent.InitializationType = .onDemand
    )
        -> [String]
    {
        let function = spec.function
        let paths = Paths(spec: spec)
        let taskRoot = paths.taskRoot
        let daemon = xrayDaemon(spec.xrayDaemonAddress)
        var platform: [(String, String)] = [
            ("AWS_LAMBDA_FUNCTION_NAME", function.name),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", String(function.memorySize)),
            ("AWS_LAMBDA_FUNCTION_VERSION", spec.version),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", initializationType.rawValue),
            ("AWS_LAMBDA_LOG_GROUP_NAME", logGroupName),
            ("AWS_LAMBDA_LOG_STREAM_NAME", logStreamName),
            ("AWS_LAMBDA_LOG_FORMAT", function.logging.logFormat.rawValue),
            ("AWS_LAMBDA_RUNTIME_API", runtimeAPI),
            ("AWS_REGION", spec.account.region),
            ("AWS_DEFAULT_REGION", spec.account.region),
            ("AWS_XRAY_CONTEXT_MISSING", "LOG_ERROR"),
            ("AWS_XRAY_DAEMON_ADDRESS", daemon.address),
            ("_AWS_XRAY_DAEMON_ADDRESS", daemon.host),
            ("_AWS_XRAY_DAEMON_PORT", daemon.port),
            ("_HANDLER", spec.image?.handler ?? function.handler),
            ("LAMBDA_TASK_ROOT", taskRoot),
            ("LAMBDA_RUNTIME_DIR", paths.runtimeDirectory),
            ("LANG", "en_US.UTF-8"),
            ("TZ", ":UTC"),
            ("PATH", paths.path),
            ("LD_LIBRARY_PATH", paths.libraryPath),
        ]
        // In the sandbox /tmp is the environment's own, as on AWS, where TMPDIR is not set.
        if let scratchDirectory, spec.sandbox == nil { platform.append(("TMPDIR", scratchDirectory)) }
        // The OTLP/HTTP receiver, where the OpenTelemetry SDK's exporter sends to `<endpoint>/v1/traces` (the
        // function's own value wins; a per-signal `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` of its own wins anyway).
        if let otlpEndpoint = spec.otlpEndpoint { platform.append(("OTEL_EXPORTER_OTLP_ENDPOINT", otlpEndpoint)) }
        // As on AWS, the application log level exists only with the JSON format (default INFO).
        if function.logging.logFormat == .json {
            platform.append(("AWS_LAMBDA_LOG_LEVEL", (function.logging.applicationLogLevel ?? .info).rawValue))
        }
        if spec.image != nil {
            platform.append(("AWS_EXECUTION_ENV", "AWS_Lambda_Image"))
        } else if let executionEnvironment = function.runtime.executionEnvironment {
            platform.append(("AWS_EXECUTION_ENV", executionEnvironment))
        }
        if spec.image == nil, function.runtime.kind == .python {
            if spec.sandbox != nil {
                // AWS's value; the layers' directories come from /var/runtime's sitecustomize (see Sandbox).
                platform.append(("PYTHONPATH", Sandbox.runtimeRoot))
            } else if let layerRoot = spec.layerRoot {
                let sitePackages = "\(layerRoot)/python/lib/\(function.runtime.identifier)/site-packages"
                platform.append(("PYTHONPATH", "\(taskRoot):\(layerRoot)/python:\(sitePackages)"))
            } else {
                platform.append(("PYTHONPATH", taskRoot))
            }
        }
        let host = ProcessInfo.processInfo.environment
        for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"] {
            if let value = host[name] { platform.append((name, value)) }
        }
        var result: [String] = []
        result.reserveCapacity(platform.count + function.environment.count)
        let userNames = Set(function.environment.map(\.name))
        // An image's ENV comes first and gives way to the function's variables and the platform's, except for the
        // search paths and locale the image sets for its own file system (an image's PATH is what finds its
        // programs; AWS's base images set PATH and LD_LIBRARY_PATH in their ENV).
        var imageNames: Set<String> = []
        if let image = spec.image {
            let platformNames = Set(platform.map(\.0))
            for variable in image.environment where !variable.name.isEmpty && !userNames.contains(variable.name) {
                if platformNames.contains(variable.name) && !imageOwned.contains(variable.name) { continue }
                if imageNames.contains(variable.name) { continue }
                imageNames.insert(variable.name)
                result.append("\(variable.name)=\(variable.value)")
            }
        }
        for (name, value) in platform where !(userNames.contains(name) && overridable.contains(name)) {
            if imageNames.contains(name) { continue }
            result.append("\(name)=\(value)")
        }
        for variable in function.environment {
            if variable.name.hasPrefix("_") { continue }
            if LambdaNames.reservedEnvironmentVariables.contains(variable.name) { continue }
            result.append("\(variable.name)=\(variable.value)")
        }
        return result
    }

    /// The paths the variables name: AWS's exactly in the sandbox (runtime-api.md §3.1), where the code is at
    /// `/var/task` and the layers at `/opt`; else the host paths of the task root and the merged layers in their
    /// place (`LAMBDA_RUNTIME_DIR` is then the task root: there is no runtime directory).
    struct Paths {
        var taskRoot: String
        var runtimeDirectory: String
        var path: String
        var libraryPath: String

        init(spec: EnvironmentSpec) {
            if spec.sandbox != nil {
                taskRoot = Sandbox.taskRoot
                runtimeDirectory = Sandbox.runtimeRoot
                let python = spec.function.runtime.kind == .python
                path = (python ? "/var/lang/bin:" : "") + "/usr/local/bin:/usr/bin/:/bin:/opt/bin"
                libraryPath =
                    (python ? "/var/lang/lib:" : "")
                    + "/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"
            } else {
                taskRoot = spec.taskRoot
                runtimeDirectory = spec.taskRoot
                // AWS extracts layers into /opt; here their merged tree is `layerRoot`, so its paths stand in.
                let opt = spec.layerRoot ?? "/opt"
                path = "/usr/local/bin:/usr/bin/:/bin:\(opt)/bin"
                libraryPath = "\(taskRoot):\(taskRoot)/lib:\(opt)/lib"
            }
        }
    }

    /// `host:port` of the X-Ray daemon and its parts (AWS sets all three variables; the SDK default
    /// `127.0.0.1:2000` when no daemon runs here).
    static func xrayDaemon(_ address: String?) -> (address: String, host: String, port: String) {
        let address = address ?? "127.0.0.1:2000"
        guard let colon = address.lastIndex(of: ":") else { return (address, address, "2000") }
        return (address, String(address[..<colon]), String(address[address.index(after: colon)...]))
    }

    struct Command {
        var executable: String
        var arguments: [String]
    }

    /// What to execute. Blocking (reads the bootstrap's first line): call off the event loops.
    static func command(spec: EnvironmentSpec) throws -> Command {
        let function = spec.function
        switch function.runtime.kind {
        case .provided:
            // AWS looks for /var/task/bootstrap, then /opt/bootstrap (from a layer).
            var bootstrap = "\(spec.taskRoot)/bootstrap"
            var alsoSearched = ""
            if access(bootstrap, F_OK) != 0, let layerRoot = spec.layerRoot {
                if access("\(layerRoot)/bootstrap", F_OK) == 0 {
                    bootstrap = "\(layerRoot)/bootstrap"
                } else {
                    alsoSearched = " (nor \(layerRoot)/bootstrap)"
                }
            }
            guard access(bootstrap, X_OK) == 0 else {
                let reason = access(bootstrap, F_OK) == 0 ? "is not executable" : "does not exist"
                throw RuntimeCommandError(
                    errorType: "Runtime.InvalidEntrypoint",
                    message: "Couldn't find valid bootstrap(s): \(bootstrap) \(reason)\(alsoSearched)")
            }
            // AWS's /bin/sh is bash, and the documented bootstrap relies on it; Debian's is dash.
            if let interpreter = shebangNeedingBash(bootstrap) {
                return Command(executable: interpreter, arguments: [bootstrap])
            }
            return Command(executable: bootstrap, arguments: [])
        case .python:
            let configured = function.runtime.pythonInterpreter ?? spec.defaultPythonInterpreter
            guard let interpreter = resolveExecutable(configured) else {
                throw RuntimeCommandError(
                    errorType: "Runtime.InvalidEntrypoint",
                    message: "Python interpreter \(configured) for \(function.runtime.identifier) not found")
            }
            return Command(executable: interpreter, arguments: ["-u", "-m", "awslambdaric", function.handler])
        }
    }

    /// `/bin/bash` when the script starts with `#!/bin/sh`, nil otherwise.
    static func shebangNeedingBash(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 64)) ?? Data()
        guard let text = String(data: head, encoding: .utf8) else { return nil }
        let firstLine = text.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? ""
        let trimmed = firstLine.trimmingCharacters(in: .whitespaces)
        if trimmed == "#!/bin/sh" || trimmed.hasPrefix("#!/bin/sh ") {
            return FileManager.default.isExecutableFile(atPath: "/bin/bash") ? "/bin/bash" : nil
        }
        return nil
    }

    /// An absolute path for `name`, searching PATH when it has no slash.
    static func resolveExecutable(_ name: String) -> String? {
        if name.contains("/") {
            return FileManager.default.isExecutableFile(atPath: name) ? name : nil
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// The `INIT_START` runtime version text.
    static func runtimeVersion(_ runtime: Runtime) -> String {
        // AWS spells these `python:3.12.v14`, `provided:al2023.v1`.
        let name: String
        switch runtime.kind {
        case .python: name = "python:" + runtime.identifier.dropFirst("python".count)
        case .provided:
            let suffix = runtime.identifier.split(separator: ".", maxSplits: 1).dropFirst().first.map(String.init)
            name = "provided:" + (suffix ?? "al")
        }
        return "\(name).v1\tRuntime Version ARN: arn:aws:lambda:local::runtime:albatross-\(runtime.identifier)"
    }
}
