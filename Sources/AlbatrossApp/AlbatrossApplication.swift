public import AdminServer
public import AlbatrossTLS
public import AsyncInvocation
public import Configuration
public import ControlAPI
import Deployment
public import Environments
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
public import Rollout
import Routing
public import ServiceLifecycle
public import Tracing

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
/// | ``TracingService`` (a `tracing:` section or an `Active` function) | the X-Ray daemon, the OTLP receiver, the trace recorder, the OTLP exporter (`tracing.export`) | closes the daemon and the receiver, writes pending segments, sends what is left |
/// | ``EnvironmentsService`` | – | stops every environment, reaps every process |
/// | ``AsyncInvocationQueue`` (with an `api:` section) | runs queued `InvocationType: Event` invokes, retries, destinations | starts nothing new, waits for the attempts running |
/// | access-log writer (when `access_logs.s3.enabled`) | its subscription of the event bus | writes what is pending |
/// | log retention sweeper (with `watchesChanges`) | sweeps old and surplus log streams | stops |
/// | ``CatalogWatcherService`` (with `watchesChanges`) | polls the configuration file, `$LATEST`'s code and the store every second (``CatalogReloader``) | stops |
/// | ``RolloutService`` (with the store) | rolls back rollouts a previous run left unfinished; runs rollouts | stops and rolls back those in progress |
/// | ``CertificateWatcherService`` (HTTPS, `watchesChanges`) | compares certificate files every 5 s | stops |
/// | ``HangupReloadService`` (with `handlesSignals`) | SIGHUP reloads certificates and the configuration | stops |
/// | ``DashboardService`` (with an `admin:` section) | a dashboard snapshot a second to `/dashboard/events` while watched | stops |
/// | ``SideListenerService`` (with an `admin:` section) | `GET /metrics`, `GET /status`, `/dashboard`, `/rollouts`, `/weights`, `/invocations/events`, `POST /environments/retire-idle`, `POST /invoke` on the admin address | closes its listener |
/// | ``SideListenerService`` (with an `api:` section) | the Lambda control API on its address | closes its listener |
/// | the `services:` given to the initialiser | | |
/// | ``InvocationFeedService`` (with an `admin:` section) | `/invocations/events` for `bench --server`: subscribed while watched | unsubscribes |
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
    public let group: MultiThreadedEventLoopGroup
    public let threadPool: NIOThreadPool
    /// The invocation event stream: the log writer is one subscriber; attach more with `events.subscribe`.
    public let events: InvocationEventBus
    public let logSink: LogSink
    public let invoker: Invoker
    /// The control groups environments run in, or why there are none (logged at start, in `/status`).
    public let controlGroups: ControlGroups.Detection
    /// The isolation runtimes run in: the sandbox, or why not (logged at start, in `/status`).
    public let isolation: Sandbox.Detection
    /// Thaws frozen environments if this server is killed (see ``ControlGroupGuard``).
    private let controlGroupGuard: ControlGroupGuard?
    /// The TLS context of each HTTPS listener, by index in `configuration.listeners`.
    public let tlsContexts: [Int: TLSServerContext]
    /// The front end; nil without `options.listeners`.
    public let loadBalancer: LoadBalancer?
    /// The ALB access-log writer, when the listeners run and `access_logs.s3.enabled` is set.
    public let accessLogs: ALBAccessLogWriter?
    /// Lambda, ALB and process metrics, when the configuration has an `admin:` section (whose listener serves
    /// them); nil otherwise, so that a server nobody can scrape pays nothing for them.
    public let metrics: InvocationMetrics?
    /// The admin listener (`/metrics`, `/status`), when the configuration has an `admin:` section; its
    /// `port` is known once the services run.
    public let admin: AdminServer?
    /// X-Ray: the embedded daemon, the recorder of the platform's segments and the trace store; nil unless the
    /// configuration has a `tracing:` section or a function with `tracingConfig: {Mode: Active}`.
    public let tracing: Tracing?
    /// The Lambda control API listener, when the configuration has an `api:` section (and the store is used); its
    /// `port` is known once the services run.
    public let api: ControlAPIServer?
    /// The queue of asynchronous invokes (`InvocationType: Event`) with its store in `<data>/async.sqlite`, when
    /// the control API runs (the only way events arrive).
    public let asyncQueue: AsyncInvocationQueue?
    /// Deployments of aliases (`albatross rollout`, the admin listener's `/rollouts`); nil without the store.
    public let rollouts: RolloutRunner?
    public var logger: Logger { options.logger }

    /// The parts of tracing, made together: X-Ray (daemon) and OpenTelemetry (OTLP receiver) into one store.
    public struct Tracing: Sendable {
        public let store: TraceStore
        public let daemon: XRayDaemon
        public let recorder: TraceRecorder
        /// `POST /v1/traces` on loopback, for `OTEL_EXPORTER_OTLP_ENDPOINT`.
        public let receiver: OTLPReceiver
        /// Every stored document to `tracing.export.url`; nil without an `export:`.
        public let exporter: OTLPExporter?

        /// The receiver's and the exporter's counts, for `/metrics`.
        var counters: [InvocationMetrics.ScrapedCounter] {
            let received = receiver.counts
            var counters = [
                InvocationMetrics.ScrapedCounter(
                    name: "albatross_otlp_received_spans_total",
                    help: "Spans functions sent to the OTLP receiver, by outcome (accepted, rejected).",
                    labels: [("outcome", "accepted")], value: received.acceptedSpans),
                InvocationMetrics.ScrapedCounter(
                    name: "albatross_otlp_received_spans_total",
                    help: "Spans functions sent to the OTLP receiver, by outcome (accepted, rejected).",
                    labels: [("outcome", "rejected")], value: received.rejectedSpans),
                InvocationMetrics.ScrapedCounter(
                    name: "albatross_otlp_refused_connections_total",
                    help: "Connections the OTLP receiver closed at once because tracing.otlpMaxConnections were open.",
                    value: received.refusedConnections),
            ]
            if let exporter {
                let counts = exporter.counts
                counters += [
                    InvocationMetrics.ScrapedCounter(
                        name: "albatross_trace_export_spans_total",
                        help: "Spans the OTLP exporter delivered to the collector.", value: counts.exported),
                    InvocationMetrics.ScrapedCounter(
                        name: "albatross_trace_export_dropped_spans_total",
                        help: "Spans the OTLP exporter dropped, by reason (queue_full, failed).",
                        labels: [("reason", "queue_full")], value: counts.droppedQueueFull),
                    InvocationMetrics.ScrapedCounter(
                        name: "albatross_trace_export_dropped_spans_total",
                        help: "Spans the OTLP exporter dropped, by reason (queue_full, failed).",
                        labels: [("reason", "failed")], value: counts.droppedFailed),
                    InvocationMetrics.ScrapedCounter(
                        name: "albatross_trace_export_retries_total",
                        help: "Export attempts the OTLP exporter retried.", value: counts.retries),
                ]
            }
            return counters
        }
    }

    private let serviceGroup: ServiceGroup
    private let trigger: ShutdownTrigger
    private let traps: SignalTraps?
    private let state: NIOLockedValueBox<State>

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
        let latest = try CatalogReloader.latestVersions(of: configuration)
        // The store of versions and aliases: the configuration's declarations are applied (idempotently).
        var catalog: FunctionCatalog
        if options.usesStore {
            let registry = try Registry(dataDirectory: configuration.dataDirectory, account: configuration.account)
            try ConfigurationApplier.apply(configuration, to: registry)
            catalog = try CatalogBuilder.build(registry: registry, latest: latest)
            try RolloutService.check(configuration, logger: options.logger)
            self.registry = registry
        } else {
            catalog = FunctionCatalog(
                functions: latest.mapValues { FunctionCatalog.Function(versions: ["$LATEST": $0]) })
            registry = nil
        }
        catalog.applyConcurrency(try CatalogReloader.concurrency(of: configuration, registry: registry))
        let asyncStore =
            configuration.api != nil && registry != nil ? try Self.openAsyncStore(configuration) : nil
        tlsContexts = options.listeners ? try LoadBalancer.makeTLSContexts(for: configuration.listeners) : [:]
        let apiTLS: TLSServerContext?
        do {
            apiTLS = try configuration.api?.tls.map { try LoadBalancer.makeTLSContext(for: $0) }
        } catch {
            throw AlbatrossApplicationError("api (HTTPS): \(error)")
        }
        // The X-Ray daemon binds before any environment can start, since runtimes get its address.
        let tracing = configuration.tracesEnabled ? try Self.makeTracing(configuration) : nil
        self.tracing = tracing
        // The sandbox is tried once here; asked for explicitly, it must work.
        let isolationMode = options.isolation ?? configuration.environments.isolation
        let isolation = Sandbox.detect(
            mode: Sandbox.Mode(rawValue: isolationMode.rawValue) ?? .auto,
            tmpBytes: UInt64(configuration.environments.ephemeralStorageMB) * 1_048_576,
            runtimeDirectory: Self.sandboxRuntimeDirectory(of: configuration),
            user: Sandbox.UserChoice(rawValue: configuration.environments.sandboxUser.rawValue) ?? .lambda)
        if isolationMode == .sandbox && isolation.sandbox == nil {
            throw AlbatrossApplicationError("environments.isolation is sandbox, but \(isolation.summary)")
        }
        if isolation.sandbox == nil, let function = configuration.functions.first(where: { $0.code.isImage }) {
            throw AlbatrossApplicationError(
                "function \(function.name) runs the container image \(function.code.path), which runs only in the "
                    + "sandbox isolation mode; this server runs in \(isolation.summary)")
        }
        self.isolation = isolation
        // From here on nothing fails.
        let controlGroups = ControlGroups.detect(enabled: configuration.environments.controlGroups)
        self.controlGroups = controlGroups
        controlGroups.groups?.record(in: Self.controlGroupRecordDirectory(of: configuration))
        controlGroupGuard = controlGroups.groups.flatMap { ControlGroupGuard.start(for: $0) }
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, options.eventLoopThreads))
        threadPool = NIOThreadPool(numberOfThreads: max(1, options.blockingThreads))
        threadPool.start()
        (events, logSink, invoker) = Self.makeInvocation(
            configuration: configuration, options: options, catalog: catalog, group: group, threadPool: threadPool,
            tracing: tracing, controlGroups: controlGroups.groups, sandbox: isolation.sandbox)
        tracing?.recorder.attach(to: events)
        loadBalancer =
            options.listeners
            ? LoadBalancer(
                listeners: configuration.listeners, targetGroups: configuration.targetGroups,
                attributes: configuration.loadBalancerAttributes, invoker: invoker, events: events, group: group,
                tlsContexts: tlsContexts)
            : nil
        // Before any listener accepts: no request to a target group whose function's policy does not allow the
        // load balancer may slip through before the reloader's first check.
        let denied = CatalogReloader.lambdaPermissions(
            of: configuration, registry: registry, logger: options.logger)
        loadBalancer?.updateLambdaPermissions(denied: denied)
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
        let reloader =
            options.watchesChanges || configuration.api != nil
            ? CatalogReloader(
                configuration: configuration, latest: latest, registry: registry, invoker: invoker,
                loadBalancer: loadBalancer, denied: denied, logger: options.logger)
            : nil
        if let registry {
            let (invoker, group, logSink) = (invoker, group, logSink)
            let runner = RolloutRunner(
                dataDirectory: configuration.dataDirectory,
                dependencies: RolloutRunner.Dependencies(
                    registry: registry, threadPool: threadPool,
                    invoke: { request in
                        try await Self.invoke(request, invoker: invoker, group: group, logSink: logSink)
                    },
                    catalogChanged: {
                        // In process, at once: the watcher's next poll would find the same change up to a second
                        // later. Without the watcher, the catalog is rebuilt from the store here.
                        if let reloader {
                            reloader.check()
                        } else if let catalog = try? CatalogBuilder.build(registry: registry, latest: latest) {
                            invoker.replaceCatalog(catalog)
                        }
                    }, logger: options.logger))
            events.subscribe(runner, name: "rollouts")
            rollouts = runner
        } else {
            rollouts = nil
        }
        trigger = ShutdownTrigger()
        traps = options.handlesSignals ? SignalTraps() : nil
        let state = NIOLockedValueBox(State())
        self.state = state
        if let metrics, let tracing {
            metrics.observeCounters { tracing.counters }
        }
        if let metrics {
            let events = self.events
            metrics.observeCounters {
                [
                    InvocationMetrics.ScrapedCounter(
                        name: "albatross_function_output_pauses_total",
                        help:
                            "Times a runtime's or extension's output pipe was left unread while the log path was behind.",
                        value: events.outputPauseCount)
                ]
            }
        }
        if let metrics {
            metrics.observeConnections {
                state.withLockedValue { $0.listeners }.map { listener in
                    let counts = listener.connections.snapshot
                    return InvocationMetrics.ConnectionCounts(
                        listener: "\(listener.configuration.protocol.rawValue):\(listener.port)", active: counts.active,
                        accepted: counts.accepted, rejected: counts.rejected)
                }
            }
        }
        let dashboard: DashboardFeed?
        let invocationFeed: InvocationEventFeed?
        if let metrics, let settings = configuration.admin {
            let feed = DashboardFeed(
                stream: EventStream(), rollouts: rollouts, invoker: invoker, loadBalancer: loadBalancer,
                metrics: metrics, listeners: { state.withLockedValue { $0.listeners } })
            // Snapshots go out once a second, each after the feed and the metrics have taken what is queued for
            // them (``DashboardService``): its events can come in batches as far apart as the metrics'.
            feed.subscription = events.subscribe(feed, name: "dashboard", pause: InvocationMetrics.batchPause)
            dashboard = feed
            invocationFeed = InvocationEventFeed(bus: events, threadPool: threadPool)
            admin = AdminServer(
                host: settings.address, port: settings.port,
                pages: [
                    "/dashboard": AdminServer.Page(contentType: "text/html; charset=utf-8") { DashboardPage.html },
                    "/metrics": .metrics(metrics),
                    "/status": Self.statusPage(
                        configuration: configuration, bound: { state.withLockedValue { $0.listeners } },
                        invoker: invoker, metrics: metrics, controlGroups: controlGroups.summary,
                        isolation: isolation.summary),
                ],
                routes: Self.adminRoutes(rollouts: rollouts, loadBalancer: loadBalancer).merging(
                    [
                        "/environments": BenchEndpoints.route(invoker),
                        "/invoke": BenchEndpoints.invokeRoute(invoker, group: group),
                    ]) { first, _ in first },
                streams: ["/dashboard/events": feed.stream, "/invocations/events": invocationFeed!.stream],
                group: group)
        } else {
            admin = nil
            dashboard = nil
            invocationFeed = nil
        }
        // Keeps the invoker's catalog in step with the file, `$LATEST`'s code and the store; the control API's
        // writes call it directly, so a change is served before the write answers.
        if let asyncStore {
            let (invoker, group, logSink) = (invoker, group, logSink)
            asyncQueue = AsyncInvocationQueue(
                store: asyncStore, outbox: Outbox(dataDirectory: configuration.dataDirectory),
                settings: AsyncInvocationQueue.Settings(
                    policy: RetryPolicy(scale: configuration.asyncInvocation.delayScale),
                    maximumInFlight: configuration.asyncInvocation.maximumInFlight),
                threadPool: threadPool, events: events, account: configuration.account,
                invoke: { request in try await Self.invoke(request, invoker: invoker, group: group, logSink: logSink) },
                functionExists: { name, qualifier in
                    guard let function = invoker.catalog.functions[name] else { return false }
                    let qualifier = qualifier ?? "$LATEST"
                    return function.versions[qualifier] != nil || function.aliases[qualifier] != nil
                },
                zeroReservedConcurrency: { name in invoker.catalog.functions[name]?.concurrency.reserved == 0 })
        } else {
            asyncQueue = nil
        }
        if let settings = configuration.api, let registry, let reloader {
            let authentication: APIAuthentication =
                settings.auth == .none
                ? .none
                : .sigv4(settings.credentials)
            let (invoker, group, logSink) = (invoker, group, logSink)
            let controlAPI = ControlAPI(
                registry: registry, threadPool: threadPool, authentication: authentication,
                invoke: { request in
                    try await Self.invoke(request, invoker: invoker, group: group, logSink: logSink)
                }, asyncQueue: asyncQueue,
                hooks: APIWriteHooks(
                    declared: { reloader.declared() }, committed: { reloader.check() },
                    publish: { request in try reloader.publish(request) },
                    lifecycleHookStatus: rollouts.map { runner in
                        { @Sendable request in
                            runner.reportHookStatus(
                                deploymentId: request.deploymentId, executionId: request.lifecycleEventHookExecutionId,
                                status: request.status
                            ).mapError { LifecycleHookStatusError(type: $0.type, message: $0.message) }
                        }
                    },
                    accountConcurrency: configuration.environments.accountConcurrency,
                    provisionedCounts: { function, version in
                        guard let counts = invoker.pool(for: function, version: version)?.provisionedCounts else {
                            return nil
                        }
                        return APIWriteHooks.ProvisionedCounts(
                            requested: counts.requested, allocated: counts.allocated, available: counts.available)
                    }), linkScheme: settings.tls == nil ? "http" : "https")
            api = ControlAPIServer(
                host: settings.address, port: settings.port, api: controlAPI, group: group, tls: apiTLS)
        } else {
            api = nil
        }
        serviceGroup = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: Self.makeServices(
                    configuration: configuration, options: options, reloader: reloader, group: group,
                    threadPool: threadPool, events: events, logSink: logSink, invoker: invoker,
                    tlsContexts: tlsContexts, apiTLS: api == nil ? nil : apiTLS, loadBalancer: loadBalancer,
                    accessLogs: accessLogs,
                    tracing: tracing, traps: traps, trigger: trigger, admin: admin, api: api,
                    asyncQueue: asyncQueue, controlGroups: controlGroups.groups, rollouts: rollouts,
                    dashboard: dashboard,
                    additional: services + (invocationFeed.map { [InvocationFeedService(feed: $0)] } ?? [])
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

    /// The trace store, the OTLP receiver and the daemon (both bound) and the recorder, from the `tracing:`
    /// settings (or their defaults).
    private static func makeTracing(_ configuration: AlbatrossConfiguration) throws -> Tracing {
        let settings = configuration.tracing ?? TracingSettings()
        let store = TraceStore(
            dataDirectory: configuration.dataDirectory,
            limits: TraceStore.Limits(maxTraces: settings.maxTraces, retentionDays: settings.retentionDays))
        let receiver: OTLPReceiver
        do {
            receiver = try OTLPReceiver(
                port: settings.otlpPort, limits: OTLPReceiver.Limits(maximumConnections: settings.otlpMaxConnections),
                store: store)
        } catch {
            store.shutdown()
            throw AlbatrossApplicationError(
                "cannot bind the OTLP receiver to 127.0.0.1:\(settings.otlpPort) (tracing.otlpPort): \(error)")
        }
        let daemon: XRayDaemon
        do {
            daemon = try XRayDaemon(
                port: settings.daemonPort,
                limits: XRayDaemon.Limits(datagramsPerSecond: settings.maxDatagramsPerSecond), store: store)
        } catch {
            receiver.closeNow()
            store.shutdown()
            throw AlbatrossApplicationError(
                "cannot bind the X-Ray daemon to 127.0.0.1:\(settings.daemonPort) (tracing.daemonPort): \(error)")
        }
        var exporter: OTLPExporter?
        if let export = settings.export, let target = TraceExportSettings.parse(export.url) {
            let made = OTLPExporter(
                settings: OTLPExporter.Settings(
                    host: target.host, port: target.port, path: target.path, queueCapacity: export.queueSize))
            store.observeWrites { made.enqueue($0) }
            exporter = made
        }
        return Tracing(
            store: store, daemon: daemon, recorder: TraceRecorder(account: configuration.account, store: store),
            receiver: receiver, exporter: exporter)
    }

    /// `<data>/async.sqlite`, with the configuration's `eventInvokeConfig` (for `$LATEST`) and `deadLetterConfig`
    /// applied: the YAML wins for what it declares; configurations set through the API for other functions or
    /// qualifiers stay.
    private static func openAsyncStore(_ configuration: AlbatrossConfiguration) throws -> AsyncEventStore {
        do {
            let store = try AsyncEventStore(dataDirectory: configuration.dataDirectory)
            let now = Date().timeIntervalSince1970
            for function in configuration.functions {
                if let config = configuration.eventInvokeConfigs[function.name] {
                    try store.putConfig(function: function.name, qualifier: "$LATEST", config, now: now)
                }
                try store.setDeadLetterTarget(
                    function: function.name, configuration.deadLetterTargets[function.name])
            }
            return store
        } catch {
            throw AlbatrossApplicationError("\(error)")
        }
    }

    /// `<data>/cgroups`: the parent control groups of each server running on this data directory.
    static func controlGroupRecordDirectory(of configuration: AlbatrossConfiguration) -> String {
        "\(configuration.dataDirectory)/cgroups"
    }

    /// `<data>/sandbox/runtime`: what the sandbox mounts at `/var/runtime` (``Sandbox/writeRuntimeDirectory(at:)``).
    static func sandboxRuntimeDirectory(of configuration: AlbatrossConfiguration) -> String {
        "\(configuration.dataDirectory)/sandbox/runtime"
    }

    /// `<data>/run`: one record per running runtime (``EnvironmentRunRecords``).
    static func runRecordDirectory(of configuration: AlbatrossConfiguration) -> String {
        "\(configuration.dataDirectory)/run"
    }

    /// Kills what servers no longer running left: their control groups (removed), then the process groups
    /// recorded in `<data>/run`, and says so.
    private static func endLeftovers(of configuration: AlbatrossConfiguration, logger: Logger) {
        let records = EnvironmentRunRecords(directory: runRecordDirectory(of: configuration))
        for leftover in records.cleanUpLeftovers() where !leftover.killed.isEmpty {
            let pids = leftover.killed.map(String.init).joined(separator: " ")
            logger.warning(
                "killed process group \(leftover.processGroup) left by a previous run (pids \(pids))")
        }
        // After the records (their process groups got SIGKILL): the rest of the groups, thawed so that frozen
        // processes die too.
        let killed = ControlGroups.removeLeftovers(recordedIn: controlGroupRecordDirectory(of: configuration))
        if !killed.isEmpty {
            let pids = killed.map(String.init).joined(separator: " ")
            logger.warning("killed processes left in the control groups of a previous run (pids \(pids))")
        }
        ControlGroups.removeEmptyLeftovers()
    }

    /// The only place that makes the event bus, the log sink (its first subscriber) and the invoker (what turns
    /// invokes into environments and events).
    private static func makeInvocation(
        configuration: AlbatrossConfiguration, options: Options, catalog: FunctionCatalog,
        group: MultiThreadedEventLoopGroup, threadPool: NIOThreadPool, tracing: Tracing?,
        controlGroups: ControlGroups?, sandbox: Sandbox?
    ) -> (InvocationEventBus, LogSink, Invoker) {
        var mirror: (@Sendable (String) -> Void)? = nil
        if options.mirrorLogs { mirror = { @Sendable line in ConsoleOutput.line(line) } }
        let events = InvocationEventBus()
        let logSink = LogSink(dataDirectory: configuration.dataDirectory, mirror: mirror)
        logSink.attach(to: events)
        let environments = configuration.environments
        var settings = InvokerSettings(
            account: configuration.account,
            idleTimeout: options.idleTimeout ?? .seconds(Int64(environments.idleTimeoutSeconds)),
            defaultPythonInterpreter: environments.defaultPythonInterpreter,
            randomSeed: configuration.randomSeed,
            terminationGrace: .nanoseconds(Int64(environments.terminationGraceSeconds * 1e9)),
            scratchDirectory: scratchDirectory(of: configuration),
            sampler: TraceSampler(
                reservoirPerSecond: configuration.tracing?.reservoirPerSecond ?? 1,
                rate: configuration.tracing?.samplingRate ?? 0.05),
            xrayDaemonAddress: tracing?.daemon.address,
            runRecordDirectory: runRecordDirectory(of: configuration), controlGroups: controlGroups,
            freezesIdle: environments.freezeIdle)
        // The Telemetry API (extensions subscribe from their environments): one subscriber of the bus, from the first
        // environment that can have extensions on.
        let telemetry = TelemetryHub(group: group)
        telemetry.attach(to: events)
        settings.telemetry = telemetry
        settings.otlpEndpoint = tracing?.receiver.endpoint
        settings.accountConcurrency = environments.accountConcurrency
        settings.initTimeoutSeconds = environments.initTimeoutSeconds
        settings.batchScheduling = environments.runtimeScheduling == .batch
        settings.freezeDelay = .milliseconds(Int64(environments.freezeDelayMs))
        settings.maximumLifetime = environments.maximumLifetimeSeconds.map { .seconds(Int64($0)) }
        settings.sandbox = sandbox
        let invoker = Invoker(
            catalog: catalog, settings: settings, group: group, threadPool: threadPool, events: events)
        return (events, logSink, invoker)
    }

    /// The services in start order (graceful shutdown runs in reverse): see the table on the type.
    private static func makeServices(
        configuration: AlbatrossConfiguration, options: Options, reloader: CatalogReloader?,
        group: MultiThreadedEventLoopGroup, threadPool: NIOThreadPool,
        events: InvocationEventBus, logSink: LogSink, invoker: Invoker, tlsContexts: [Int: TLSServerContext],
        apiTLS: TLSServerContext?, loadBalancer: LoadBalancer?,
        accessLogs: ALBAccessLogWriter?, tracing: Tracing?, traps: SignalTraps?, trigger: ShutdownTrigger,
        admin: AdminServer?, api: ControlAPIServer?, asyncQueue: AsyncInvocationQueue?, controlGroups: ControlGroups?,
        rollouts: RolloutRunner?, dashboard: DashboardFeed?,
        additional: [any Service]
    ) -> [any Service] {
        let logger = options.logger
        var services: [any Service] = []
        if let traps {
            services.append(
                ShutdownSignalService(
                    traps: traps, trigger: trigger, logger: logger, controlGroups: controlGroups))
        }
        services.append(LogWriterService(logSink: logSink, events: events, threadPool: threadPool))
        // Traces: stopped after the environments (shutdown runs in reverse), whose last invokes they complete.
        if let tracing { services.append(TracingService(tracing: tracing, threadPool: threadPool)) }
        services.append(EnvironmentsService(invoker: invoker, group: group))
        // Async events: stopped (waiting for the attempts running) before the environments they run in.
        if let asyncQueue { services.append(asyncQueue) }
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
        let reloader = options.watchesChanges ? reloader : nil
        if let reloader {
            services.append(CatalogWatcherService(reloader: reloader, threadPool: threadPool))
        }
        if let rollouts {
            services.append(
                RolloutService(
                    runner: rollouts, configuration: { reloader?.currentConfiguration() ?? configuration }))
        }
        var certificates = tlsContexts.sorted { $0.key < $1.key }.map {
            (name: "listener \($0.key)", context: $0.value)
        }
        if let apiTLS { certificates.append((name: "the API listener", context: apiTLS)) }
        if options.watchesChanges {
            if !certificates.isEmpty {
                services.append(
                    CertificateWatcherService(
                        contexts: certificates, interval: options.certificateCheckInterval, threadPool: threadPool,
                        logger: logger))
            }
        }
        if let traps {
            services.append(
                HangupReloadService(
                    contexts: certificates, reloader: reloader, traps: traps, threadPool: threadPool, logger: logger))
        }
        if let dashboard { services.append(DashboardService(feed: dashboard)) }
        if let admin, let settings = configuration.admin {
            services.append(
                SideListenerService(
                    start: { try await admin.start() }, stop: { await admin.stop() }, host: settings.address,
                    name: "admin listener",
                    detail: "GET /metrics, GET /status, /dashboard, /rollouts, /weights, /invocations/events",
                    logger: logger))
        }
        if let api, let settings = configuration.api {
            services.append(
                SideListenerService(
                    start: { try await api.start() }, stop: { await api.stop() }, host: settings.address,
                    name: "control API", detail: "auth: \(settings.auth.rawValue)", logger: logger,
                    scheme: settings.tls == nil ? "http" : "https"))
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
    /// The admin listener's routes: `/rollouts` (with the store), `/weights` (with the listeners).
    private static func adminRoutes(
        rollouts: RolloutRunner?, loadBalancer: LoadBalancer?
    ) -> [String: AdminServer.Route] {
        var routes: [String: AdminServer.Route] = [:]
        if let rollouts { routes["/rollouts"] = RolloutEndpoints.route(rollouts) }
        if let loadBalancer { routes["/weights"] = WeightEndpoints.route(loadBalancer) }
        return routes
    }

    /// `GET /status`: ``StatusReport`` of what serves now.
    private static func statusPage(
        configuration: AlbatrossConfiguration, bound: @escaping @Sendable () -> [LoadBalancer.BoundListener],
        invoker: Invoker, metrics: InvocationMetrics, controlGroups: String, isolation: String
    ) -> AdminServer.Page {
        let startedAt = Date()
        return AdminServer.Page(contentType: "application/json") {
            // On the admin thread pool: it may wait for the metrics to take what is queued for them.
            metrics.catchUpBlocking()
            return StatusReport(
                configuration: configuration, bound: bound(), catalog: invoker.catalog,
                status: metrics.status(), startedAt: startedAt, controlGroups: controlGroups, isolation: isolation
            ).json()
        }
    }

    /// Binds every listener (the control API's too) and reports them (`listening on <url> (<protocol>)`). With `handlesSignals`, the
    /// signals are trapped before anything is reported. Throws (having closed what was bound) when a port
    /// cannot be bound; call ``requestShutdown()`` and ``run()`` then, to stop the rest.
    @discardableResult
    public func startListeners() async throws -> [LoadBalancer.BoundListener] {
        if let traps { _ = await traps.install() }
        guard let loadBalancer else { return [] }
        if !tlsContexts.isEmpty { logger.info("\(OpenSSLVersion.current)") }
        // The control API binds here too, so that a port in use fails the start as an ALB listener's does.
        try await api?.start()
        let bound: [LoadBalancer.BoundListener]
        do {
            bound = try await loadBalancer.start()
        } catch {
            await api?.stop()
            throw error
        }
        state.withLockedValue { $0.listeners = bound }
        logger.info("data directory \(configuration.dataDirectory)")
        logger.info("control groups: \(controlGroups.summary)")
        logger.info("isolation: \(isolation.summary)")
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
        // Every environment's group was removed on the thread pool, which has run all its work by now.
        controlGroups.groups?.removeParents()
        controlGroups.groups?.forgetRecord(in: Self.controlGroupRecordDirectory(of: configuration))
        controlGroupGuard?.stop()
        try? await group.shutdownGracefully()
        try result.get()
    }

    /// Starts the graceful shutdown of every service (see the table on the type); ``run()`` returns once it is
    /// done. Before ``run()``, the services are started and at once shut down when it is called.
    public func requestShutdown() async {
        await trigger.requestShutdown()
    }

    /// Invokes through the invoker; with `request.wantsReport`, the outcome carries the REPORT line and the log
    /// text the log writer wrote for it (the CLI's `invoke --log`, the control API's `LogType: Tail`, tests).
    public func invoke(_ request: InvokeRequest) async throws -> InvocationOutcome {
        try await Self.invoke(request, invoker: invoker, group: group, logSink: logSink)
    }

    /// The one place that completes an outcome with what the log writer wrote for it (the REPORT line, and the
    /// log text for the control API's `LogType: Tail`) when the request asked for it.
    static func invoke(
        _ request: InvokeRequest, invoker: Invoker, group: MultiThreadedEventLoopGroup, logSink: LogSink
    ) async throws -> InvocationOutcome {
        var outcome = try await invoker.invoke(request, on: group.next()).get()
        if request.wantsReport {
            await logSink.flushed()
            outcome.reportLine = logSink.reportLine(requestID: outcome.requestID)
            outcome.logTail = logSink.invocationLog(requestID: outcome.requestID)
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
