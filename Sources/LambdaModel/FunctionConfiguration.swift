/// The configuration of one function as the platform runs it: what to start, with which limits.
///
/// This is a plain value: the configuration loader builds it once from YAML, and the environment pool
/// reads it when it starts an execution environment. Later, published versions snapshot it.
public struct FunctionConfiguration: Sendable, Hashable {
    /// The function name (1–64 characters of `[A-Za-z0-9_-]`).
    public var name: String
    public var runtime: Runtime
    /// `_HANDLER`: `file.function` for Python, free text for `provided` runtimes.
    public var handler: String
    public var code: CodeLocation
    /// Memory in MB, 128–10240. Reported in REPORT lines and `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`.
    public var memorySize: Int
    /// Invoke timeout in seconds, 1–900.
    public var timeout: Int
    /// User environment variables in declaration order; reserved names were refused at load.
    public var environment: [EnvironmentVariable]
    /// How many execution environments may run at once; beyond it invokes are throttled.
    public var maximumConcurrency: Int
    /// Layer version ARNs (`arn:aws:lambda:<region>:<account>:layer:<name>:<N>`), at most 5, merged in this
    /// order (a later layer's file wins); what AWS extracts into `/opt`.
    public var layers: [String]
    /// AWS's `LoggingConfig` (format, levels, log group) and the group's retention.
    public var logging: LoggingConfiguration
    /// AWS's `TracingConfig`: `PassThrough` (the default) or `Active`.
    public var tracing: TracingConfiguration
    /// AWS's `ImageConfig` for a function whose code is a container image (``CodeLocation/image(_:)``): each value
    /// given replaces the image's own.
    public var imageConfig: ImageConfigOverrides = ImageConfigOverrides()

    public init(
        name: String,
        runtime: Runtime,
        handler: String,
        code: CodeLocation,
        memorySize: Int = 128,
        timeout: Int = 3,
        environment: [EnvironmentVariable] = [],
        maximumConcurrency: Int = 10,
        layers: [String] = [],
        logging: LoggingConfiguration = LoggingConfiguration(),
        tracing: TracingConfiguration = TracingConfiguration()
    ) {
        self.name = name
        self.runtime = runtime
        self.handler = handler
        self.code = code
        self.memorySize = memorySize
        self.timeout = timeout
        self.environment = environment
        self.maximumConcurrency = maximumConcurrency
        self.layers = layers
        self.logging = logging
        self.tracing = tracing
    }
}

/// One user-defined environment variable.
public struct EnvironmentVariable: Sendable, Hashable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// Where a function's code lives on disk.
public enum CodeLocation: Sendable, Hashable {
    /// A directory used as the task root as it is.
    case directory(String)
    /// A .zip archive unpacked into a private task root before the first environment starts.
    case zip(String)
    /// A container image (AWS's PackageType `Image`): an OCI image layout directory or a `docker save` tarball,
    /// unpacked into a rootfs that the sandbox runs as `/`.
    case image(String)

    /// The path of the directory, archive or image.
    public var path: String {
        switch self {
        case .directory(let path), .zip(let path), .image(let path): return path
        }
    }

    public var isImage: Bool {
        if case .image = self { return true }
        return false
    }
}

/// AWS's `ImageConfig`: what replaces the image's ENTRYPOINT, CMD and WORKDIR (nil: the image's own is kept).
public struct ImageConfigOverrides: Sendable, Hashable {
    public var entryPoint: [String]?
    public var command: [String]?
    public var workingDirectory: String?

    public init(entryPoint: [String]? = nil, command: [String]? = nil, workingDirectory: String? = nil) {
        self.entryPoint = entryPoint
        self.command = command
        self.workingDirectory = workingDirectory
    }
}
