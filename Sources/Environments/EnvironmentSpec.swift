public import InvocationModel
public import LambdaModel
public import NIOCore
public import NIOPosix

/// Everything an execution environment needs to start, shared by the environments of one function version.
public struct EnvironmentSpec: Sendable {
    public var function: FunctionConfiguration
    /// `$LATEST` or a version number.
    public var version: String
    public var account: AccountContext
    /// The task root: the function's code directory (or where its archive was unpacked).
    public var taskRoot: String
    /// The merged layers (AWS's `/opt`): its `bin`, `lib` and Python directories go on the search paths, and a
    /// `provided` runtime without a `bootstrap` of its own runs `<layerRoot>/bootstrap`. nil without layers.
    public var layerRoot: String? = nil
    /// The Python interpreter for `python3.x` runtimes when the function names none.
    public var defaultPythonInterpreter: String
    /// Where the environment reports what happens to it and to its invokes (logs are one subscriber).
    public var events: InvocationEventBus
    /// Starts runtimes (its threads live until it is shut down, which a runtime's parent-death signal relies on)
    /// and reads files, off the event loops.
    public var threadPool: NIOThreadPool
    /// The INIT phase limit for on-demand environments (10 s on AWS).
    public var initTimeoutSeconds: Double = 10
    /// The INIT limit of provisioned environments (AWS documents none; 15 minutes here, so that a runtime that
    /// never asks for its first event does not hold its execution forever).
    public var provisionedInitTimeoutSeconds: Double = 900
    /// Between SIGTERM and SIGKILL when the platform stops an environment.
    public var terminationGrace: TimeAmount = .seconds(2)
    /// Where each environment gets a private scratch directory of its own, handed to the runtime as `TMPDIR` and
    /// removed when the environment ends (nil: no `TMPDIR`; the runtime then uses the host's `/tmp`).
    public var scratchRoot: String? = nil
    /// `AWS_XRAY_DAEMON_ADDRESS` (`127.0.0.1:<port>` of the embedded daemon); nil: the SDK default
    /// `127.0.0.1:2000`.
    public var xrayDaemonAddress: String? = nil
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (`http://127.0.0.1:<port>` of the embedded OTLP/HTTP receiver); nil: not set.
    public var otlpEndpoint: String? = nil
    /// Where each running runtime is recorded, so that a server started after this one was killed can end what
    /// it left (nil: not recorded).
    public var runRecords: EnvironmentRunRecords? = nil
    /// The server's control groups: each environment gets a group there (memory limit, freezer, whole-tree kill,
    /// peak memory). nil: none usable; the memory limit is then an address-space limit
    /// (``addressSpaceLimitBytes``) and idle environments are stopped with SIGSTOP.
    public var controlGroups: ControlGroups? = nil
    /// Keeps MemorySize where the environment's group does not (no group, or cgroup v2 without its memory
    /// controller); nil: only the address-space limit does.
    public var memoryWatch: MemoryWatch? = .shared
    /// Idle environments are frozen (no CPU) until an invoke is placed on them (`environments.freezeIdle`).
    public var freezesIdle: Bool = true
    /// How long an environment stays idle before it is frozen (`environments.freezeDelayMs`); zero: at once, as
    /// Lambda freezes (the default).
    public var freezeDelay: TimeAmount = .zero
    /// Runtimes run under `SCHED_BATCH` (`environments.runtimeScheduling: batch`): woken by the front end, they
    /// do not preempt it (bench/README.md, "Runtimes under SCHED_BATCH").
    public var batchScheduling: Bool = false
    /// Where the Telemetry API's subscriptions are delivered from (nil: `PUT /2022-07-01/telemetry` answers 404).
    public var telemetry: TelemetryHub? = nil
    /// The sandbox runtimes run in (`environments.isolation`); nil: plain processes.
    public var sandbox: Sandbox? = nil
    /// The container image the function runs (its rootfs is then ``taskRoot``); nil: a code package. Images run
    /// only in the sandbox.
    public var image: ImageRun? = nil

    public init(
        function: FunctionConfiguration, version: String, account: AccountContext, taskRoot: String,
        defaultPythonInterpreter: String, events: InvocationEventBus, threadPool: NIOThreadPool
    ) {
        self.function = function
        self.version = version
        self.account = account
        self.taskRoot = taskRoot
        self.defaultPythonInterpreter = defaultPythonInterpreter
        self.events = events
        self.threadPool = threadPool
    }

    /// MemorySize in bytes: the control group's limit.
    var memoryBytes: UInt64 { UInt64(function.memorySize) * 1_048_576 }

    /// RLIMIT_AS without control groups: 2 × MemorySize + 2 GiB. An address-space limit counts reserved virtual
    /// memory, not what is used (a Go or Python runtime reserves hundreds of MB it never touches), hence the
    /// headroom: it stops a runaway allocation, late, with a failed allocation in the runtime (Python's
    /// `MemoryError`) rather than an OOM kill.
    var addressSpaceLimitBytes: UInt64 { 2 * memoryBytes + 2048 * 1_048_576 }

    /// The limits of one environment. The INIT cap applies to on-demand environments only (runtime-api.md §2.2,
    /// §10 item 6): a provisioned environment's INIT, which no invoke waits for, may take up to
    /// ``provisionedInitTimeoutSeconds``.
    func limits(
        initializationType: InvocationEvent.InitializationType = .onDemand
    ) -> EnvironmentStateMachine<RuntimeAPIHandler, PendingInvocation>.Limits {
        var limits = EnvironmentStateMachine<RuntimeAPIHandler, PendingInvocation>.Limits()
        let initSeconds =
            initializationType == .provisionedConcurrency ? provisionedInitTimeoutSeconds : initTimeoutSeconds
        limits.initTimeout = .nanoseconds(Int64(initSeconds * 1e9))
        limits.reportsInitDuration = initializationType == .onDemand
        limits.invokeTimeout = .seconds(Int64(function.timeout))
        limits.terminationGrace = terminationGrace
        return limits
    }
}

/// How a container image function runs, resolved from the image's config and the function's `ImageConfig`: the
/// unpacked rootfs (the sandbox's `/`), the command line, the working directory and the image's ENV.
public struct ImageRun: Sendable, Hashable {
    /// `sha256:<hex>` of the image.
    public var digest: String
    public var rootfs: String
    /// ENTRYPOINT + CMD (never empty): the first element is the executable, looked up in the image's PATH.
    public var arguments: [String]
    /// WORKDIR inside the image (`/` when it names none).
    public var workingDirectory: String
    /// The image's ENV, in its order; the function's variables and the platform's win over it.
    public var environment: [EnvironmentVariable]
    /// `_HANDLER`: CMD's first element (as the runtime interface emulator sets it), empty without CMD.
    public var handler: String

    public init(
        digest: String, rootfs: String, arguments: [String], workingDirectory: String,
        environment: [EnvironmentVariable], handler: String
    ) {
        self.digest = digest
        self.rootfs = rootfs
        self.arguments = arguments
        self.workingDirectory = workingDirectory
        self.environment = environment
        self.handler = handler
    }
}
