public import Environments
public import LambdaModel
import NIOConcurrencyHelpers
public import NIOCore
public import NIOPosix
public import Observability
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

    public init(
        account: AccountContext = AccountContext(), idleTimeout: TimeAmount = .minutes(10),
        defaultPythonInterpreter: String = "python3", randomSeed: UInt64? = nil
    ) {
        self.account = account
        self.idleTimeout = idleTimeout
        self.defaultPythonInterpreter = defaultPythonInterpreter
        self.randomSeed = randomSeed
    }
}

/// The one way into execution environments: function + qualifier → version → environment pool → outcome.
///
/// The ALB front end, the CLI (`albatross invoke`) and later the Lambda API all call ``invoke(_:on:)``.
/// Qualifiers resolve against an immutable ``FunctionCatalog``: `$LATEST` (or none), a version number, or an
/// alias, which picks one of its versions by weight (sticky when the alias says so). Pools are per version.
public final class Invoker: Sendable {
    /// The synchronous invoke payload limit (6 MiB).
    public static let maximumPayloadSize = 6 * 1024 * 1024

    private struct PoolKey: Hashable {
        var function: String
        var version: String
    }

    private struct State {
        var catalog: FunctionCatalog
        var pools: [PoolKey: EnvironmentPool] = [:]
        var closed = false
    }

    public let settings: InvokerSettings
    private let group: any EventLoopGroup
    private let threadPool: NIOThreadPool
    private let logSink: LogSink
    private let state: NIOLockedValueBox<State>
    /// The alias draw generator when ``InvokerSettings/randomSeed`` is set.
    private let seeded: NIOLockedValueBox<SplitMix64>?

    public init(
        catalog: FunctionCatalog, settings: InvokerSettings, group: any EventLoopGroup, threadPool: NIOThreadPool,
        logSink: LogSink
    ) {
        self.settings = settings
        self.group = group
        self.threadPool = threadPool
        self.logSink = logSink
        self.state = NIOLockedValueBox(State(catalog: catalog))
        self.seeded = settings.randomSeed.map { NIOLockedValueBox(SplitMix64(seed: $0)) }
    }

    /// `$LATEST` only, from configurations and the task roots ``CodePreparer`` made for them.
    public convenience init(
        functions: [FunctionConfiguration], taskRoots: [String: String], settings: InvokerSettings,
        group: any EventLoopGroup, threadPool: NIOThreadPool, logSink: LogSink
    ) {
        self.init(
            catalog: FunctionCatalog(latest: functions, taskRoots: taskRoots), settings: settings, group: group,
            threadPool: threadPool, logSink: logSink)
    }

    /// Installs a new catalog: alias and version changes apply to the next invoke. Pools of versions that are
    /// still in the catalog keep their warm environments.
    public func replaceCatalog(_ catalog: FunctionCatalog) {
        let retired = state.withLockedValue { state -> [EnvironmentPool] in
            state.catalog = catalog
            var retired: [EnvironmentPool] = []
            for (key, pool) in state.pools {
                let current = catalog.functions[key.function]?.versions[key.version]
                if current?.configuration != pool.spec.function || current?.taskRoot != pool.spec.taskRoot
                    || current?.layerRoot != pool.spec.layerRoot
                {
                    retired.append(pool)
                    state.pools[key] = nil
                }
            }
            return retired
        }
        // Environments of a changed $LATEST finish what they run and are then stopped.
        for pool in retired { _ = pool.shutdown(on: group.next()) }
    }

    /// The current catalog.
    public var catalog: FunctionCatalog { state.withLockedValue { $0.catalog } }

    /// What to invoke and how.
    public struct Request: Sendable {
        public var functionName: String
        /// nil or `$LATEST`, a version number, or an alias name.
        public var qualifier: String?
        public var payload: ByteBuffer
        /// An incoming `X-Amzn-Trace-Id` (the ALB's, or the caller's); its Root is kept.
        public var traceHeader: String?
        public var clientContext: String?
        public var wantsReport: Bool
        /// Request headers and peer address, for aliases with sticky assignment.
        public var headers: [(name: String, value: String)]
        public var clientAddress: String

        public init(
            functionName: String, qualifier: String? = nil, payload: ByteBuffer, traceHeader: String? = nil,
            clientContext: String? = nil, wantsReport: Bool = false, headers: [(name: String, value: String)] = [],
            clientAddress: String = ""
        ) {
            self.functionName = functionName
            self.qualifier = qualifier
            self.payload = payload
            self.traceHeader = traceHeader
            self.clientContext = clientContext
            self.wantsReport = wantsReport
            self.headers = headers
            self.clientAddress = clientAddress
        }
    }

    /// Invokes synchronously (RequestResponse). Function errors are outcomes; the future fails only with
    /// ``InvocationError``. Completes on `eventLoop`.
    public func invoke(_ request: Request, on eventLoop: any EventLoop) -> EventLoopFuture<InvocationOutcome> {
        if request.payload.readableBytes > Self.maximumPayloadSize {
            return eventLoop.makeFailedFuture(
                InvocationError(
                    .requestTooLarge,
                    "Request must be smaller than \(Self.maximumPayloadSize) bytes for the InvokeFunction operation"))
        }
        var generator = SystemRandomNumberGenerator()
        let resolved: Result<EnvironmentPool, InvocationError>
        if let seeded {
            resolved = seeded.withLockedValue { resolve(request, random: &$0) }
        } else {
            resolved = resolve(request, random: &generator)
        }
        let pool: EnvironmentPool
        switch resolved {
        case .success(let found): pool = found
        case .failure(let error): return eventLoop.makeFailedFuture(error)
        }
        let environmentRequest = InvocationRequest(
            requestID: RequestID.make(using: &generator), payload: request.payload,
            invokedFunctionARN: settings.account.functionARN(request.functionName, qualifier: request.qualifier),
            traceHeader: TraceHeader.runtimeHeader(from: request.traceHeader, using: &generator),
            clientContext: request.clientContext, wantsReport: request.wantsReport)
        return pool.invoke(environmentRequest, on: eventLoop)
    }

    /// Qualifier → version → pool (created on first use).
    private func resolve(
        _ request: Request, random: inout some RandomNumberGenerator
    )
        -> Result<EnvironmentPool, InvocationError>
    {
        let name = request.functionName
        let qualifier = request.qualifier ?? "$LATEST"
        let account = settings.account
        // One critical section: the version is resolved and its pool found (or made) against the same catalog,
        // so a catalog swapped in meanwhile can never get a pool built from a configuration it replaced.
        return state.withLockedValue { state -> Result<EnvironmentPool, InvocationError> in
            if state.closed { return .failure(InvocationError(.serviceError, "Albatross is shutting down")) }
            guard let function = state.catalog.functions[name] else {
                return .failure(InvocationError(.resourceNotFound, "Function not found: \(account.functionARN(name))"))
            }
            var versionName = qualifier
            if function.versions[qualifier] == nil, let routing = function.aliases[qualifier] {
                let key = routing.stickiness.flatMap {
                    AliasResolver.stickyKey($0, headers: request.headers, clientAddress: request.clientAddress)
                }
                versionName = AliasResolver.version(
                    for: routing, stickyKey: key, salt: "\(name):\(qualifier)", random: &random)
            }
            guard let version = function.versions[versionName] else {
                return .failure(
                    InvocationError(
                        .resourceNotFound, "Function not found: \(account.functionARN(name, qualifier: qualifier))"))
            }
            let key = PoolKey(function: name, version: versionName)
            if let pool = state.pools[key] { return .success(pool) }
            var spec = EnvironmentSpec(
                function: version.configuration, version: versionName, account: account,
                taskRoot: version.taskRoot, defaultPythonInterpreter: settings.defaultPythonInterpreter,
                logSink: logSink, threadPool: threadPool)
            spec.layerRoot = version.layerRoot
            let pool = EnvironmentPool(spec: spec, group: group, idleTimeout: settings.idleTimeout)
            state.pools[key] = pool
            return .success(pool)
        }
    }

    /// The pool of a function version, if it has been used.
    public func pool(for functionName: String, version: String = "$LATEST") -> EnvironmentPool? {
        state.withLockedValue { $0.pools[PoolKey(function: functionName, version: version)] }
    }

    /// Stops every environment; completes once all runtime processes are reaped.
    public func shutdown(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        let pools = state.withLockedValue { state -> [EnvironmentPool] in
            state.closed = true
            return Array(state.pools.values)
        }
        let futures = pools.map { $0.shutdown(on: eventLoop) }
        return EventLoopFuture.andAllComplete(futures, on: eventLoop)
    }
}

/// SplitMix64: a small, fast generator whose whole sequence follows from its seed (for replayable experiments).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
