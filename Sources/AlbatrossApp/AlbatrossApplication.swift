import AdminServer
public import AlbatrossTLS
public import Configuration
import Deployment
import Environments
import Foundation
public import Invocation
public import InvocationModel
import LambdaModel
public import LoadBalancer
public import Logging
import NIOConcurrencyHelpers
import NIOCore
public import NIOPosix
public import Observability
public import Registry
import Routing
public import ServiceLifecycle

/// The one composition root: everything `albatross serve` runs, built from a configuration, and shared by
/// `serve`, `invoke` and the test kit (and later `bench` and the control API), so that the wiring and the
/// shutdown order exist once.
///
/// Building it (``init(configuration:options:services:)``) does every check that can fail before it starts a
/// thread: configuration, data directory, `$LATEST` task roots, the store (configuration applied), the catalog,
/// TLS contexts. It throws the error of the part at fault as it is (`ConfigurationError`, `RegistryError`,
/// `LoadBalancerError`, ``AlbatrossApplicationError``), each naming the file, key or listener. Then it makes the event loops, the blocking thread pool, the log sink, the invoker, the load
/// balancer and the services. ``startListeners()`` binds the listeners; ``run()`` runs every service in one
/// `ServiceGroup` until a graceful shutdown is requested (a signal, or ``requestShutdown()``), then stops the
/// threads. Always call ``run()``, even when ``startListeners()`` failed: it is what stops the log writer and the
/// environments.
///
/// Services, in start order; graceful shutdown runs in reverse, each one finishing before the next is told:
///
/// | service | runs | on graceful shutdown |
/// | --- | --- | --- |
/// | ``ShutdownSignalService`` (with `handlesSignals`) | waits for SIGINT/SIGTERM | stops listening (last) |
/// | ``LogWriterService`` | the log writer thread | flushes, stops the thread |
/// | ``EnvironmentsService`` | – | stops every environment, reaps every process |
/// | access-log writer (when `access_logs.s3.enabled`) | its subscription of the event bus | writes what is pending |
/// | log retention sweeper (with `watchesChanges`) | sweeps old and surplus log streams | stops |
/// | ``CatalogWatcherService`` (with `watchesChanges` and the store) | polls the store every second | stops |
/// | ``CertificateWatcherService`` (HTTPS, `watchesChanges`) | compares certificate files every 5 s | stops |
/// | ``HangupReloadService`` (with `handlesSignals`) | SIGHUP reloads certificates | stops |
/// | ``AdminService`` (with an `admin:` section) | `GET /metrics` on the admin address | closes its listener |
/// | the `services:` given to the initialiser | | |
/// | ``ListenersService`` (with `listeners`) | the bound listeners | stops accepting, drains within `shutdownGraceSeconds`, closes connections |
///
/// So SIGTERM stops accepting first, lets requests in flight finish, closes what is left, stops the watchers,
/// shuts the environments down, flushes the logs, and ``run()`` returns.
public final class AlbatrossApplication: Sendable {
    public let configuration: AlbatrossConfiguration
    public let options: Options
    /// The store of versions, aliases and layers, with the configuration's declarations applied; nil without
    /// `options.usesStore`.
    public let registry: Registry?
    /// `$LATEST` of every configured function, run from its code in place.
    public let latest: [String: FunctionCatalog.Version]
    public let group: MultiThreadedEventLoopGroup
    public let threadPool: NIOThreadPool
    /// The invocation event stream: the log writer is one subscriber; attach more with `events.subscribe`.
    public let events: InvocationEventBus
    public let logSink: LogSink
    public let invoker: Invoker
    /// The TLS context of each HTTPS listener, by index in `configuration.listeners`.
    public let tlsContexts: [Int: TLSServerContext]
    /// The front end; nil without `options.listeners`.
    public let loadBalancer: LoadBalancer?
    /// The ALB access-log writer, when the listeners run and `access_logs.s3.enabled` is set.
    public let accessLogs: ALBAccessLogWriter?
    /// Lambda, ALB and process metrics, when the configuration has an `admin:` section (whose listener serves
    /// them); nil otherwise, so that a server nobody can scrape pays nothing for them.
    public let metrics: InvocationMetrics?
    public var logger: Logger { options.logger }

    private let serviceGroup: ServiceGroup
    private let trigger: ShutdownTrigger
    private let traps: SignalTraps?
    private let state = NIOLockedValueBox(State())

    private struct State {
        var listeners: [LoadBalancer.BoundListener] = []
        var ran = false
    }

    /// Loads the configuration file at `configurationPath` (relative paths in it resolve against its directory).
    public convenience init(
        configurationPath: String, options: Options = Options(), services: [any Service] = []
    ) throws {
        let configuration = try ConfigurationLoader.load(path: configurationPath)
        try self.init(configuration: configuration, options: options, services: services)
    }

    /// Parses YAML text; relative paths resolve against `baseDirectory`, and errors name `file`.
    public convenience init(
        yaml: String, baseDirectory: String, file: String? = nil, options: Options = Options(),
        services: [any Service] = []
    ) throws {
        let configuration = try ConfigurationLoader.parse(
            yaml: yaml, file: file ?? "\(baseDirectory)/albatross.yaml", baseDirectory: baseDirectory)
        try self.init(configuration: configuration, options: options, services: services)
    }

    /// Builds everything from a parsed configuration.
    ///
    /// - Parameter services: more long-lived parts to run in the same group (later the control API, metrics);
    ///   they start after the environments and watchers and are shut down right after the listeners, before the
    ///   watchers, the environments and the log writer.
    public init(
        configuration: AlbatrossConfiguration, options: Options = Options(), services: [any Service] = []
    ) throws {
        self.configuration = configuration
        self.options = options
        // Everything that can fail comes first, before any thread exists.
        do {
            try FileManager.default.createDirectory(
                atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        } catch {
            throw AlbatrossApplicationError(
                "cannot create the data directory \(configuration.dataDirectory): \(error)")
        }
        // What a previous run that was killed left: the process groups of its runtimes (each runtime itself
        // died with that server, but not what it started), then their scratch directories.
        Self.endLeftovers(of: configuration, logger: options.logger)
        try? FileManager.default.removeItem(atPath: Self.scratchDirectory(of: configuration))
        var latest: [String: FunctionCatalog.Version] = [:]
        for function in configuration.functions {
            let root = try CodePreparer.taskRoot(for: function, dataDirectory: configuration.dataDirectory)
            latest[function.name] = FunctionCatalog.Version(configuration: function, version: "$LATEST", taskRoot: root)
        }
        self.latest = latest
        // The store of versions and aliases: the configuration's declarations are applied (idempotently).
        let catalog: FunctionCatalog
        if options.usesStore {
            let registry = try Registry(dataDirectory: configuration.dataDirectory, account: configuration.account)
            try ConfigurationApplier.apply(configuration, to: registry)
            catalog = try CatalogBuilder.build(registry: registry, latest: latest)
            self.registry = registry
        } else {
            catalog = FunctionCatalog(
                functions: latest.mapValues { FunctionCatalog.Function(versions: ["$LATEST": $0]) })
            registry = nil
        }
        tlsContexts = options.listeners ? try LoadBalancer.makeTLSContexts(for: configuration.listeners) : [:]
        // From here on nothing fails.
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, options.eventLoopThreads))
        threadPool = NIOThreadPool(numberOfThreads: max(1, options.blockingThreads))
        threadPool.start()
        (events, logSink, invoker) = Self.makeInvocation(
            configuration: configuration, options: options, catalog: catalog, group: group, threadPool: threadPool)
        loadBalancer =
            options.listeners
            ? LoadBalancer(
                listeners: configuration.listeners, targetGroups: configuration.targetGroups,
                attributes: configuration.loadBalancerAttributes, invoker: invoker, events: events, group: group,
                tlsContexts: tlsContexts)
            : nil
        let attributes = configuration.loadBalancerAttributes
        if loadBalancer != nil, attributes.accessLogsEnabled, let directory = attributes.accessLogsDirectory {
            let writer = ALBAccessLogWriter(
                settings: ALBAccessLogSettings(
                    directory: directory, prefix: attributes.accessLogsPrefix, account: configuration.account))
            writer.attach(to: events)
            accessLogs = writer
        } else {
            accessLogs = nil
        }
        if configuration.admin != nil {
            let metrics = InvocationMetrics()
            metrics.attach(to: events)
            self.metrics = metrics
        } else {
            metrics = nil
        }
        trigger = ShutdownTrigger()
        traps = options.handlesSignals ? SignalTraps() : nil
        serviceGroup = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: Self.makeServices(
                    configuration: configuration, options: options, registry: registry, latest: latest,
                    group: group, threadPool: threadPool, events: events, logSink: logSink, invoker: invoker,
                    tlsContexts: tlsContexts, loadBalancer: loadBalancer, accessLogs: accessLogs, metrics: metrics,
                    traps: traps, trigger: trigger,
                    additional: services
                ).map {
                    // Whichever service ends or fails, the others are still shut down in order.
                    ServiceGroupConfiguration.ServiceConfiguration(
                        service: $0, successTerminationBehavior: .gracefullyShutdownGroup,
                        failureTerminationBehavior: .gracefullyShutdownGroup, serviceName: "\(type(of: $0))")
                },
                logger: options.logger))
        trigger.attach(serviceGroup)
    }

    /// `<data>/tmp`: every environment's private `TMPDIR` is a directory in it, removed when the environment ends.
    static func scratchDirectory(of configuration: AlbatrossConfiguration) -> String {
        "\(configuration.dataDirectory)/tmp"
    }

    /// `<data>/run`: one record per running runtime (``EnvironmentRunRecords``).
    static func runRecordDirectory(of configuration: AlbatrossConfiguration) -> String {
        "\(configuration.dataDirectory)/run"
    }

    /// Kills the process groups that servers no longer running left in `<data>/run`, and says so.
    private static func endLeftovers(of configuration: AlbatrossConfiguration, logger: Logger) {
        let records = EnvironmentRunRecords(directory: runRecordDirectory(of: configuration))
        for leftover in records.cleanUpLeftovers() where !leftover.killed.isEmpty {
            let pids = leftover.killed.map(String.init).joined(separator: " ")
            logger.warning(
                "killed process group \(leftover.processGroup) left by a previous run (pids \(pids))")
        }
    }

    /// The only place that makes the event bus, the log sink (its first subscriber) and the invoker (what turns
    /// invokes into environments and events).
    private static func makeInvocation(
        configuration: AlbatrossConfiguration, options: Options, catalog: FunctionCatalog,
        group: MultiThreadedEventLoopGroup, threadPool: NIOThreadPool
    ) -> (InvocationEventBus, LogSink, Invoker) {
        var mirror: (@Sendable (String) -> Void)? = nil
        if options.mirrorLogs { mirror = { @Sendable line in ConsoleOutput.line(line) } }
        let events = InvocationEventBus()
        let logSink = LogSink(dataDirectory: configuration.dataDirectory, mirror: mirror)
        logSink.attach(to: events)
        let environments = configuration.environments
        let settings = InvokerSettings(
            account: configuration.account,
            idleTimeout: options.idleTimeout ?? .seconds(Int64(environments.idleTimeoutSeconds)),
            defaultPythonInterpreter: environments.defaultPythonInterpreter,
            randomSeed: configuration.randomSeed,
            terminationGrace: .nanoseconds(Int64(environments.terminationGraceSeconds * 1e9)),
            scratchDirectory: scratchDirectory(of: configuration),
            runRecordDirectory: runRecordDirectory(of: configuration))
        let invoker = Invoker(
            catalog: catalog, settings: settings, group: group, threadPool: threadPool, events: events)
        return (events, logSink, invoker)
    }

    /// The services in start order (graceful shutdown runs in reverse): see the table on the type.
    private static func makeServices(
        configuration: AlbatrossConfiguration, options: Options, registry: Registry?,
        latest: [String: FunctionCatalog.Version], group: MultiThreadedEventLoopGroup, threadPool: NIOThreadPool,
        events: InvocationEventBus, logSink: LogSink, invoker: Invoker, tlsContexts: [Int: TLSServerContext],
        loadBalancer: LoadBalancer?,
        accessLogs: ALBAccessLogWriter?, metrics: InvocationMetrics?, traps: SignalTraps?, trigger: ShutdownTrigger,
        additional: [any Service]
    ) -> [any Service] {
        let logger = options.logger
        var services: [any Service] = []
        if let traps { services.append(ShutdownSignalService(traps: traps, trigger: trigger, logger: logger)) }
        services.append(LogWriterService(logSink: logSink, events: events, threadPool: threadPool))
        services.append(EnvironmentsService(invoker: invoker, group: group))
        // Access logs: written for what the listeners answer, so they stop after the listeners have drained.
        if let accessLogs {
            services.append(StartStopService(start: {}, stop: { accessLogs.shutdown() }, threadPool: threadPool))
        }
        // Log retention and the size bound, for a server that runs for a long time.
        if options.watchesChanges {
            let logs = configuration.logs
            let sweeper = LogRetentionSweeper(
                dataDirectory: configuration.dataDirectory,
                policy: LogRetentionPolicy(
                    functions: configuration.functions
                        + configuration.declaredVersions.values.flatMap { $0.map(\.configuration) },
                    defaultRetentionDays: logs.retentionInDays, maxTotalBytes: logs.maxTotalSizeBytes),
                intervalSeconds: Double(logs.sweepIntervalSeconds))
            services.append(
                StartStopService(start: { sweeper.start() }, stop: { sweeper.stop() }, threadPool: threadPool))
        }
        if options.watchesChanges {
            if let registry {
                services.append(
                    CatalogWatcherService(
                        registry: registry, latest: latest, invoker: invoker, threadPool: threadPool, logger: logger))
            }
            if !tlsContexts.isEmpty {
                services.append(
                    CertificateWatcherService(
                        contexts: tlsContexts, interval: options.certificateCheckInterval, threadPool: threadPool,
                        logger: logger))
            }
        }
        if let traps {
            services.append(
                HangupReloadService(contexts: tlsContexts, traps: traps, threadPool: threadPool, logger: logger))
        }
        if let metrics, let admin = configuration.admin {
            services.append(
                AdminService(
                    server: AdminServer(host: admin.address, port: admin.port, metrics: metrics, group: group),
                    host: admin.address, logger: logger))
        }
        services.append(contentsOf: additional)
        if let loadBalancer {
            services.append(
                ListenersService(
                    loadBalancer: loadBalancer, grace: .seconds(configuration.environments.shutdownGraceSeconds),
                    logger: logger))
        }
        return services
    }
}

extension AlbatrossApplication {
    /// Binds every listener and reports them (`listening on <url> (<protocol>)`). With `handlesSignals`, the
    /// signals are trapped before anything is reported. Throws (having closed what was bound) when a port
    /// cannot be bound; call ``requestShutdown()`` and ``run()`` then, to stop the rest.
    @discardableResult
    public func startListeners() async throws -> [LoadBalancer.BoundListener] {
        if let traps { _ = await traps.install() }
        guard let loadBalancer else { return [] }
        if !tlsContexts.isEmpty { logger.info("\(OpenSSLVersion.current)") }
        let bound = try await loadBalancer.start()
        state.withLockedValue { $0.listeners = bound }
        logger.info("data directory \(configuration.dataDirectory)")
        for listener in bound {
            logger.info("listening on \(listener.url) (\(listener.configuration.protocol.rawValue))")
        }
        return bound
    }

    /// The listeners ``startListeners()`` bound.
    public var listeners: [LoadBalancer.BoundListener] { state.withLockedValue { $0.listeners } }

    /// Runs every service until they have shut down gracefully, then stops the thread pool and the event loops.
    /// Call it once. Throws the first error a service threw (the others are still shut down in order).
    public func run() async throws {
        let first = state.withLockedValue { state -> Bool in
            defer { state.ran = true }
            return !state.ran
        }
        precondition(first, "AlbatrossApplication.run() is called once")
        if let traps { _ = await traps.install() }
        let result = await Result(catching: { try await serviceGroup.run() })
        trigger.detach()
        try? await threadPool.shutdownGracefully()
        try? await group.shutdownGracefully()
        try result.get()
    }

    /// Starts the graceful shutdown of every service (see the table on the type); ``run()`` returns once it is
    /// done. Before ``run()``, the services are started and at once shut down when it is called.
    public func requestShutdown() async {
        await trigger.requestShutdown()
    }

    /// Invokes through the invoker; with `request.wantsReport`, the outcome carries the REPORT line the log
    /// writer wrote for it (the CLI's `invoke --log`, tests).
    public func invoke(_ request: InvokeRequest) async throws -> InvocationOutcome {
        var outcome = try await invoker.invoke(request, on: group.next()).get()
        if request.wantsReport {
            await logSink.flushed()
            outcome.reportLine = logSink.reportLine(requestID: outcome.requestID)
        }
        return outcome
    }

    /// Runs the services while `body` runs, then shuts them down and waits: for a command that does one thing
    /// with the application (`invoke`).
    public func whileRunning<T>(_ body: () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await self.run() }
            let result = await Result(catching: body)
            await requestShutdown()
            try await tasks.waitForAll()
            return try result.get()
        }
    }
}
