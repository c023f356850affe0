public import LambdaModel
public import Routing

/// The whole configuration, parsed and validated: what `albatross serve` runs.
///
/// Built once at the edge by ``ConfigurationLoader``; the modules below receive these typed values and never
/// see YAML.
public struct AlbatrossConfiguration: Sendable, Hashable {
    /// Absolute path of the data directory (logs, unpacked code, state).
    public var dataDirectory: String
    public var account: AccountContext
    public var functions: [FunctionConfiguration]
    public var targetGroups: [TargetGroup]
    public var listeners: [ListenerConfiguration]
    public var loadBalancerAttributes: LoadBalancerAttributes
    public var environments: EnvironmentSettings
    /// `logs:`: retention and the size bound of the log groups.
    public var logs = LogSettings()
    /// The admin listener (`GET /metrics`): the `admin:` section; nil when the file has none (no admin listener,
    /// so that several servers, e.g. in tests, never compete for one fixed port).
    public var admin: AdminSettings?
    /// `tracing:`: sampling, the embedded X-Ray daemon and trace retention; nil when the file has none (the
    /// defaults then apply to functions with `tracingConfig: {Mode: Active}`).
    public var tracing: TracingSettings?
    /// The Lambda control API listener: the `api:` section; nil when the file has none (no API listener).
    public var api: APISettings?
    /// `async:`: how the asynchronous-invocation queue runs (the back-off scale for tests).
    public var asyncInvocation = AsyncSettings()
    /// Each function's `eventInvokeConfig` (by function name; it applies to `$LATEST`).
    public var eventInvokeConfigs: [String: EventInvokeConfig] = [:]
    /// Each function's `deadLetterConfig.TargetArn` (by function name).
    public var deadLetterTargets: [String: String] = [:]
    /// Seeds weighted alias draws so an experiment can be replayed; nil uses the system's random source.
    public var randomSeed: UInt64?
    /// The configuration file it was read from.
    public var file: String = ""
    /// Published versions declared per function (by function name), in version order.
    public var declaredVersions: [String: [DeclaredVersion]] = [:]
    /// Aliases declared per function (by function name).
    public var declaredAliases: [String: [DeclaredAlias]] = [:]
    /// Reserved and provisioned concurrency by function (`reservedConcurrentExecutions`,
    /// `provisionedConcurrentExecutions` of versions and aliases).
    public var concurrency: [String: FunctionConcurrency] = [:]
    /// Layers declared under `layers:`, in file order; published before functions are stored.
    public var declaredLayers: [DeclaredLayer] = []
    /// Each function's `layers:` as written (by function name); `functions[].layers` stays empty until
    /// `Deployment.ConfigurationApplier` resolves these to layer version ARNs in the store.
    public var layerReferences: [String: [LayerReference]] = [:]

    public init(
        dataDirectory: String,
        account: AccountContext = AccountContext(),
        functions: [FunctionConfiguration] = [],
        targetGroups: [TargetGroup] = [],
        listeners: [ListenerConfiguration] = [],
        loadBalancerAttributes: LoadBalancerAttributes = LoadBalancerAttributes(),
        environments: EnvironmentSettings = EnvironmentSettings()
    ) {
        self.dataDirectory = dataDirectory
        self.account = account
        self.functions = functions
        self.targetGroups = targetGroups
        self.listeners = listeners
        self.loadBalancerAttributes = loadBalancerAttributes
        self.environments = environments
    }
}

/// Where the admin listener (`GET /metrics`) binds: its own address, never one of the ALB listeners, loopback by
/// default so that metrics are not exposed beyond the machine unless asked for.
public struct AdminSettings: Sendable, Hashable {
    /// IPv4 or IPv6 address to bind (default `127.0.0.1`).
    public var address: String = "127.0.0.1"
    /// TCP port; 0 asks the OS for a free one (default 9464, the port commonly used by Prometheus exporters of
    /// OpenTelemetry SDKs).
    public var port: Int = AdminSettings.defaultPort

    public static let defaultPort = 9464

    public init(address: String = "127.0.0.1", port: Int = AdminSettings.defaultPort) {
        self.address = address
        self.port = port
    }
}

/// Where the Lambda control API listener (boto3, the AWS CLI) binds and how it checks callers: the `api:` section.
/// Loopback by default; `auth: none` (the default) accepts any request, `auth: sigv4` requires a valid Signature
/// Version 4 from one of `credentials`.
public struct APISettings: Sendable, Hashable {
    public enum Auth: String, Sendable, Hashable {
        case none
        case sigv4
    }

    /// IPv4 or IPv6 address to bind (default `127.0.0.1`).
    public var address: String = "127.0.0.1"
    /// TCP port (default 9001); 0 asks the OS for a free one.
    public var port: Int = APISettings.defaultPort
    public var auth: Auth = .none
    public var credentials: [APICredential] = []
    /// `protocol: HTTPS` with `certificates` (and `sslPolicy`), as an HTTPS listener takes them; nil is HTTP.
    public var tls: ListenerTLSSettings?

    public static let defaultPort = 9001

    public init(address: String = "127.0.0.1", port: Int = APISettings.defaultPort, auth: Auth = .none) {
        self.address = address
        self.port = port
        self.auth = auth
    }
}

/// How the asynchronous-invocation queue runs: the `async:` section.
public struct AsyncSettings: Sendable, Hashable {
    /// Multiplies every back-off delay and the maximum event age (1: AWS's times; tests use e.g. 0.002, so that
    /// the 60 s and 120 s retry delays take 120 ms and 240 ms).
    public var delayScale: Double = 1
    /// Event attempts running at once, across functions (default 32).
    public var maximumInFlight: Int = 32

    public init() {}
}

/// Platform-wide settings of execution environments.
public struct EnvironmentSettings: Sendable, Hashable {
    /// Idle environments are shut down after this many seconds (default 600).
    public var idleTimeoutSeconds: Int = 600
    /// How long `serve` waits for in-flight requests on SIGTERM before shutting environments down.
    public var shutdownGraceSeconds: Int = 10
    /// How long a runtime has between SIGTERM and SIGKILL when its environment is shut down (default 2).
    public var terminationGraceSeconds: Double = 2
    /// The interpreter used for `python3.x` runtimes when a function names none (`python3` on PATH by default).
    public var defaultPythonInterpreter: String = "python3"
    /// The account's concurrent executions and the unreserved minimum (AWS: 1,000 and 100).
    public var accountConcurrency = AccountConcurrency()
    /// INIT's limit for on-demand environments (AWS: 10 s); a failed or overrunning INIT runs again inside the first
    /// invoke, under the function timeout.
    public var initTimeoutSeconds: Double = 10
    /// Environments older than this are stopped when idle, or after their invoke; nil: no limit (AWS recycles
    /// environments after some hours, undocumented).
    public var maximumLifetimeSeconds: Int?
    /// Each environment runs in a control group of its own when the kernel offers one (cgroup v2, else v1;
    /// default true). false: none, as on a machine without (RLIMIT_AS for memory, SIGSTOP for freezing).
    public var controlGroups: Bool = true
    /// Idle environments are frozen until an invoke is placed on them (default true).
    public var freezeIdle: Bool = true
    /// How long an environment stays idle before it is frozen, in milliseconds (default 0: at once).
    public var freezeDelayMs: Int = 0
    /// The scheduling policy of runtime processes (default `normal`).
    public var runtimeScheduling: RuntimeScheduling = .normal
    /// How runtimes are isolated from the host and from each other (default `auto`).
    public var isolation: Isolation = .auto
    /// The size of each environment's private `/tmp` in the sandbox, in MB (AWS's default ephemeral storage: 512).
    public var ephemeralStorageMB: Int = 512
    /// Who the sandbox's processes run as (default `lambda`).
    public var sandboxUser: SandboxUser = .lambda

    /// `environments.sandboxUser`.
    public enum SandboxUser: String, Sendable, Hashable, CaseIterable {
        /// Lambda's `sbx_user1051` (uid 993, gid 990), whoever the server runs as.
        case lambda
        /// The server's own user.
        case server
    }

    /// `environments.runtimeScheduling`.
    public enum RuntimeScheduling: String, Sendable, Hashable, CaseIterable {
        /// The kernel's default policy (`SCHED_OTHER`), as every other process.
        case normal
        /// `SCHED_BATCH`: a runtime the front end wakes does not preempt it.
        case batch
    }

    /// `environments.isolation`.
    public enum Isolation: String, Sendable, Hashable, CaseIterable {
        /// Plain child processes; the code and layers at their paths on the host.
        case process
        /// A bubblewrap sandbox laid out as Lambda's (`/var/task`, `/opt`, a private `/tmp`, its own PIDs);
        /// the start fails when it does not work here.
        case sandbox
        /// `sandbox` when it works, else `process` (logged once, naming what is missing).
        case auto
    }

    public init() {}
}

extension AlbatrossConfiguration {
    /// Whether anything may record traces: a `tracing:` section, or a function or declared version in `Active`
    /// mode. Without, no daemon runs and nothing of tracing is subscribed.
    public var tracesEnabled: Bool {
        tracing != nil || functions.contains { $0.tracing.mode == .active }
            || declaredVersions.values.contains { $0.contains { $0.configuration.tracing.mode == .active } }
    }
}
