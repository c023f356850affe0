import Atomics
public import Environments
public import InvocationModel
public import LambdaModel
import NIOConcurrencyHelpers
public import NIOCore
public import NIOPosix
import Routing

/// Settings the invoker applies to every function.
public struct InvokerSettings: Sendable {
    public var account: AccountContext
    /// Idle environments are shut down after this long.
    public var idleTimeout: TimeAmount
    /// The interpreter for Python runtimes when a function names none.
    public var defaultPythonInterpreter: String
    /// Seeds the draws of weighted aliases, so that an experiment's sequence of versions can be replayed; nil
    /// draws from the system's random source.
    public var randomSeed: UInt64?
    /// Between SIGTERM and SIGKILL when an environment is shut down.
    public var terminationGrace: TimeAmount
    /// Each environment's private `TMPDIR` is made under this directory (see ``EnvironmentSpec/scratchRoot``).
    public var scratchDirectory: String?
    /// Samples the invokes of functions with active tracing (AWS's rule unless configured otherwise).
    public var sampler: TraceSampler
    /// `host:port` of the X-Ray daemon, handed to runtimes as `AWS_XRAY_DAEMON_ADDRESS`; nil: AWS's SDK default
    /// `127.0.0.1:2000` (no daemon runs).
    public var xrayDaemonAddress: String?
    /// `http://127.0.0.1:<port>` of the OTLP/HTTP receiver, handed to runtimes as `OTEL_EXPORTER_OTLP_ENDPOINT`;
    /// nil: not set (no receiver runs).
    public var otlpEndpoint: String?
    /// Where running runtimes are recorded (see ``EnvironmentSpec/runRecords``).
    public var runRecordDirectory: String?
    /// The account's concurrent executions and the unreserved minimum (AWS: 1,000 and 100).
    public var accountConcurrency = AccountConcurrency()
    /// INIT's limit for on-demand environments (AWS: 10 s); past it INIT runs again inside the first invoke.
    public var initTimeoutSeconds: Double = 10
    /// Environments older than this are stopped (idle) or drained (busy); nil: no limit.
    public var maximumLifetime: TimeAmount?
    /// The server's control groups (see ``EnvironmentSpec/controlGroups``); nil: none usable.
    public var controlGroups: ControlGroups?
    /// Idle environments are frozen (see ``EnvironmentSpec/freezesIdle``).
    public var freezesIdle: Bool
    /// Runtimes run under `SCHED_BATCH` (see ``EnvironmentSpec/batchScheduling``).
    public var batchScheduling: Bool = false
    /// How long an idle environment runs before it is frozen (see ``EnvironmentSpec/freezeDelay``).
    public var freezeDelay: TimeAmount = .zero
    /// The Telemetry API's deliveries (see ``EnvironmentSpec/telemetry``).
    public var telemetry: TelemetryHub?
    /// The sandbox runtimes run in (see ``EnvironmentSpec/sandbox``); nil: plain processes.
    public var sandbox: Sandbox?

    public init(
        account: AccountContext = AccountContext(), idleTimeout: TimeAmount = .minutes(10),
        defaultPythonInterpreter: String = "python3", randomSeed: UInt64? = nil,
        terminationGrace: TimeAmount = .seconds(2), scratchDirectory: String? = nil,
        sampler: TraceSampler = TraceSampler(), xrayDaemonAddress: String? = nil, runRecordDirectory: String? = nil,
        controlGroups: ControlGroups? = nil, freezesIdle: Bool = true
    ) {
        self.controlGroups = controlGroups
        self.freezesIdle = freezesIdle
        self.scratchDirectory = scratchDirectory
        self.sampler = sampler
        self.xrayDaemonAddress = xrayDaemonAddress
        self.runRecordDirectory = runRecordDirectory
        self.account = account
        self.idleTimeout = idleTimeout
        self.defaultPythonInterpreter = defaultPythonInterpreter
        self.randomSeed = randomSeed
        self.terminationGrace = terminationGrace
    }
}

/// The one way into execution environments: function + qualifier → version → environment pool → outcome.
///
/// The ALB front end, the CLI (`albatross invoke`) and later the Lambda API all call ``invoke(_:on:)`` (through
/// ``InvocationService``). Qualifiers resolve against an immutable snapshot: the ``FunctionCatalog`` (`$LATEST`,
/// version numbers, aliases that pick one of their versions by weight, sticky when the alias says so) together
/// with one pool per version. The hot path reads the snapshot with one atomic load and takes no lock;
/// ``replaceCatalog(_:)`` builds a new snapshot (reusing the pools of unchanged versions) and swaps it in.
public final class Invoker: InvocationService, Sendable {
    /// The synchronous invoke payload limit (6 MiB).
    public static let maximumPayloadSize = 6 * 1024 * 1024

    public typealias Request = InvokeRequest

    private struct PoolKey: Hashable {
        var function: String
        var version: String
    }

    /// What invokes resolve against: replaced as a whole, never changed.
    private final class Snapshot: AtomicReference, Sendable {
        let catalog: FunctionCatalog
        let pools: [PoolKey: EnvironmentPool]
        let closed: Bool

        init(catalog: FunctionCatalog, pools: [PoolKey: EnvironmentPool], closed: Bool) {
            self.catalog = catalog
            self.pools = pools
            self.closed = closed
        }
    }

    public let settings: InvokerSettings
    public let events: InvocationEventBus
    private let group: any EventLoopGroup
    private let threadPool: NIOThreadPool
    private let snapshot: ManagedAtomic<Snapshot>
    /// Serialises catalog replacement and shutdown (never taken by an invoke).
    private let changes = NIOLock()
    /// Pools being retired, kept alive until their environments have ended (environments hold their pool
    /// weakly); shutdown waits for them too.
    private let retiring = NIOLockedValueBox<[ObjectIdentifier: EnvironmentPool]>([:])
    /// The alias draw generator when ``InvokerSettings/randomSeed`` is set.
    private let seeded: NIOLockedValueBox<SplitMix64>?
    /// The account's executions, shared by every pool.
    public let limiter: ConcurrencyLimiter

    public init(
        catalog: FunctionCatalog, settings: InvokerSettings, group: any EventLoopGroup, threadPool: NIOThreadPool,
        events: InvocationEventBus
    ) {
        self.settings = settings
        self.events = events
        self.group = group
        self.threadPool = threadPool
        self.seeded = settings.randomSeed.map { NIOLockedValueBox(SplitMix64(seed: $0)) }
        self.limiter = ConcurrencyLimiter(account: settings.accountConcurrency)
        self.snapshot = ManagedAtomic(Snapshot(catalog: FunctionCatalog(), pools: [:], closed: false))
        let pools = makePools(for: catalog, replacing: nil).pools
        self.snapshot.store(Snapshot(catalog: catalog, pools: pools, closed: false), ordering: .releasing)
        applyConcurrency(catalog, pools: pools)
    }

    /// Reservations go to the limiter, provisioned concurrency to the pools of the versions it lands on.
    private func applyConcurrency(_ catalog: FunctionCatalog, pools: [PoolKey: EnvironmentPool]) {
        var reservations: [String: Int] = [:]
        for (name, function) in catalog.functions {
            if let reserved = function.concurrency.reserved { reservations[name] = reserved }
        }
        limiter.setReservations(reservations)
        for (key, pool) in pools {
            pool.setProvisioned(catalog.functions[key.function]?.provisionedByVersion[key.version] ?? 0)
        }
    }

    /// One pool per version of `catalog`; pools of `previous` whose version is unchanged (configuration, code
    /// root and revision, layers) are kept with their warm environments, the others are returned as retired.
    private func makePools(
        for catalog: FunctionCatalog, replacing previous: Snapshot?
    ) -> (pools: [PoolKey: EnvironmentPool], retired: [EnvironmentPool]) {
        let existing = previous?.pools ?? [:]
        var pools: [PoolKey: EnvironmentPool] = [:]
        for (name, function) in catalog.functions {
            for (versionName, version) in function.versions {
                let key = PoolKey(function: name, version: versionName)
                if let pool = existing[key], previous?.catalog.functions[name]?.versions[versionName] == version {
                    pools[key] = pool
                    continue
                }
                var spec = EnvironmentSpec(
                    function: version.configuration, version: versionName, account: settings.account,
                    taskRoot: version.taskRoot, defaultPythonInterpreter: settings.defaultPythonInterpreter,
                    events: events, threadPool: threadPool)
                spec.layerRoot = version.layerRoot
                spec.terminationGrace = settings.terminationGrace
                spec.scratchRoot = settings.scratchDirectory
                spec.xrayDaemonAddress = settings.xrayDaemonAddress
                spec.otlpEndpoint = settings.otlpEndpoint
                spec.runRecords = settings.runRecordDirectory.map { EnvironmentRunRecords(directory: $0) }
                spec.initTimeoutSeconds = settings.initTimeoutSeconds
                spec.controlGroups = settings.controlGroups
                spec.freezesIdle = settings.freezesIdle
                spec.batchScheduling = settings.batchScheduling
                spec.freezeDelay = settings.freezeDelay
                spec.telemetry = settings.telemetry
                spec.sandbox = settings.sandbox
                spec.image = version.image
                pools[key] = EnvironmentPool(
                    spec: spec, group: group, idleTimeout: settings.idleTimeout, limiter: limiter,
                    maximumLifetime: settings.maximumLifetime,
                    successor: { [weak self] request, loop, attempt in
                        guard let self else { return loop.makeFailedFuture(PoolClosed()) }
                        return self.placeAgain(
                            request, function: name, version: versionName, on: loop, attempt: attempt)
                    })
            }
        }
        let retired = existing.filter { pools[$0.key] !== $0.value }.map(\.value)
        return (pools, retired)
    }

    /// Installs a new catalog: alias and version changes apply to the next invoke. Pools of versions that are
    /// unchanged keep their warm environments; a changed or removed version's pool is retired: its busy
    /// environments finish their invoke (with the code they started with) and then stop, idle ones stop at once.
    public func replaceCatalog(_ catalog: FunctionCatalog) {
        let retired = changes.withLock { () -> [EnvironmentPool] in
            let current = snapshot.load(ordering: .acquiring)
            guard !current.closed else { return [] }
            let (pools, retired) = makePools(for: catalog, replacing: current)
            snapshot.store(Snapshot(catalog: catalog, pools: pools, closed: false), ordering: .releasing)
            applyConcurrency(catalog, pools: pools)
            return retired
        }
        for pool in retired { retire(pool) }
    }

    private func retire(_ pool: EnvironmentPool) {
        let id = ObjectIdentifier(pool)
        retiring.withLockedValue { $0[id] = pool }
        pool.retire(on: group.next()).whenComplete { [retiring] _ in
            _ = retiring.withLockedValue { $0.removeValue(forKey: id) }
        }
    }

    /// The current catalog.
    public var catalog: FunctionCatalog { snapshot.load(ordering: .acquiring).catalog }

    /// Invokes synchronously (RequestResponse). Function errors are outcomes; the future fails only with
    /// ``InvocationError``. Completes on `eventLoop`.
    public func invoke(_ request: Request, on eventLoop: any EventLoop) -> EventLoopFuture<InvocationOutcome> {
        invoke(request, on: eventLoop, attempt: 0)
    }

    private func invoke(
        _ request: Request, on eventLoop: any EventLoop, attempt: Int
    ) -> EventLoopFuture<
        InvocationOutcome
    > {
        if request.payload.readableBytes > Self.maximumPayloadSize {
            return eventLoop.makeFailedFuture(
                InvocationError(
                    .requestTooLarge,
                    "Request must be smaller than \(Self.maximumPayloadSize) bytes for the InvokeFunction operation"))
        }
        var generator = SystemRandomNumberGenerator()
        let resolved: Result<(EnvironmentPool, alias: String?), InvocationError>
        let current = snapshot.load(ordering: .acquiring)
        if let seeded {
            resolved = seeded.withLockedValue { resolve(request, in: current, random: &$0) }
        } else {
            resolved = resolve(request, in: current, random: &generator)
        }
        let pool: EnvironmentPool
        let alias: String?
        switch resolved {
        case .success(let found): (pool, alias) = found
        case .failure(let error): return eventLoop.makeFailedFuture(error)
        }
        let requestID = request.requestID ?? RequestID.make(using: &generator)
        // Active tracing samples requests no upstream decided for; pass-through keeps the caller's decision.
        let sampler = pool.spec.function.tracing.mode == .active ? settings.sampler : nil
        let trace = TraceHeader.context(
            from: request.traceHeader, sample: sampler.map { sampler in { sampler.sample() } }, using: &generator)
        if events.wants(.resolved) {
            events.emit(
                InvocationEvent(
                    requestID: requestID,
                    detail: .resolved(
                        .init(
                            function: request.functionName, qualifier: request.qualifier, alias: alias,
                            executedVersion: pool.spec.version, trace: trace.isSampled ? trace : nil))))
        }
        let environmentRequest = InvocationRequest(
            requestID: requestID, payload: request.payload,
            invokedFunctionARN: settings.account.functionARN(request.functionName, qualifier: request.qualifier),
            traceHeader: trace.header,
            clientContext: request.clientContext, wantsReport: request.wantsReport, receivedAt: request.receivedAt,
            qualifier: request.qualifier)
        return pool.invoke(environmentRequest, on: eventLoop)
    }

    /// A catalog change retired the pool an invoke was resolved to before it was placed: nothing of it ran, so it
    /// goes to the same version's current pool (the alias draw stands). It fails only when the invoker is shutting
    /// down or the version is gone.
    private func placeAgain(
        _ request: InvocationRequest, function: String, version: String, on eventLoop: any EventLoop, attempt: Int
    ) -> EventLoopFuture<InvocationOutcome> {
        let current = snapshot.load(ordering: .acquiring)
        guard !current.closed else {
            return eventLoop.makeFailedFuture(
                InvocationError(.serviceError, "Albatross is shutting down", phase: .shutdown))
        }
        guard let pool = current.pools[PoolKey(function: function, version: version)] else {
            return eventLoop.makeFailedFuture(
                InvocationError(
                    .resourceNotFound,
                    "Function not found: \(settings.account.functionARN(function, qualifier: version))"))
        }
        return pool.invoke(request, on: eventLoop, attempt: attempt)
    }

    /// Qualifier → version → pool, against one snapshot.
    private func resolve(
        _ request: Request, in snapshot: Snapshot, random: inout some RandomNumberGenerator
    ) -> Result<(EnvironmentPool, alias: String?), InvocationError> {
        let name = request.functionName
        let qualifier = request.qualifier ?? "$LATEST"
        let account = settings.account
        if snapshot.closed {
            return .failure(InvocationError(.serviceError, "Albatross is shutting down", phase: .shutdown))
        }
        guard let function = snapshot.catalog.functions[name] else {
            return .failure(InvocationError(.resourceNotFound, "Function not found: \(account.functionARN(name))"))
        }
        var versionName = qualifier
        var alias: String?
        if function.versions[qualifier] == nil, let routing = function.aliases[qualifier] {
            let key = routing.stickiness.flatMap {
                AliasResolver.stickyKey($0, headers: request.headers, clientAddress: request.clientAddress)
            }
            versionName = AliasResolver.version(
                for: routing, stickyKey: key, salt: "\(name):\(qualifier)", random: &random)
            alias = qualifier
        }
        guard let pool = snapshot.pools[PoolKey(function: name, version: versionName)] else {
            return .failure(
                InvocationError(
                    .resourceNotFound, "Function not found: \(account.functionARN(name, qualifier: qualifier))"))
        }
        return .success((pool, alias))
    }

    /// The pool of a function version.
    public func pool(for functionName: String, version: String = "$LATEST") -> EnvironmentPool? {
        snapshot.load(ordering: .acquiring).pools[PoolKey(function: functionName, version: version)]
    }

    /// Stops every environment (SIGTERM, then SIGKILL after the termination grace); completes once all runtime
    /// processes are reaped.
    public func shutdown(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        let pools = changes.withLock { () -> [EnvironmentPool] in
            let current = snapshot.load(ordering: .acquiring)
            // The pools stay in the snapshot until they are gone: environments reach their pool weakly.
            snapshot.store(Snapshot(catalog: current.catalog, pools: current.pools, closed: true), ordering: .releasing)
            return Array(current.pools.values) + retiring.withLockedValue { Array($0.values) }
        }
        let futures = pools.map { $0.shutdown(on: eventLoop) }
        return EventLoopFuture.andAllComplete(futures, on: eventLoop)
    }
}
