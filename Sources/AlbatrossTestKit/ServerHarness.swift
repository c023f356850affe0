public import Configuration
import Deployment
import Foundation
public import Invocation
public import InvocationModel
import LambdaModel
public import LoadBalancer
import NIOCore
public import NIOPosix
public import Observability
public import Registry

/// The whole front end in-process, from a YAML configuration, on free ports: what `albatross serve` runs.
public final class ServerHarness: Sendable {
    public let configuration: AlbatrossConfiguration
    public let group: MultiThreadedEventLoopGroup
    public let threadPool: NIOThreadPool
    public let logSink: LogSink
    public let events: InvocationEventBus
    public let invoker: Invoker
    public let loadBalancer: LoadBalancer
    public let listeners: [LoadBalancer.BoundListener]
    public let registry: Registry

    /// Parses `yaml` (relative paths against `baseDirectory`), prepares code and starts every listener.
    public init(yaml: String, baseDirectory: String) async throws {
        configuration = try ConfigurationLoader.parse(
            yaml: yaml, file: "\(baseDirectory)/test.yaml", baseDirectory: baseDirectory)
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        var latest: [String: FunctionCatalog.Version] = [:]
        for function in configuration.functions {
            let root = try CodePreparer.taskRoot(for: function, dataDirectory: configuration.dataDirectory)
            latest[function.name] = FunctionCatalog.Version(configuration: function, version: "$LATEST", taskRoot: root)
        }
        registry = try Registry(dataDirectory: configuration.dataDirectory, account: configuration.account)
        try ConfigurationApplier.apply(configuration, to: registry)
        let catalog = try CatalogBuilder.build(registry: registry, latest: latest)
        group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        threadPool = NIOThreadPool(numberOfThreads: 2)
        threadPool.start()
        logSink = LogSink(dataDirectory: configuration.dataDirectory)
        events = InvocationEventBus()
        logSink.attach(to: events)
        invoker = Invoker(
            catalog: catalog,
            settings: InvokerSettings(
                account: configuration.account,
                idleTimeout: .seconds(Int64(configuration.environments.idleTimeoutSeconds)),
                defaultPythonInterpreter: configuration.environments.defaultPythonInterpreter,
                randomSeed: configuration.randomSeed),
            group: group, threadPool: threadPool, events: events)
        loadBalancer = LoadBalancer(
            listeners: configuration.listeners, targetGroups: configuration.targetGroups,
            attributes: configuration.loadBalancerAttributes, invoker: invoker, events: events, group: group,
            tlsContexts: try LoadBalancer.makeTLSContexts(for: configuration.listeners))
        listeners = try await loadBalancer.start()
    }

    public var port: Int { listeners[0].port }

    /// A fresh connection to the first listener.
    public func client(timeout: Double = 30) throws -> RawHTTPClient {
        try RawHTTPClient(port: port, timeout: timeout)
    }

    public func shutdown() async {
        await loadBalancer.stopAccepting()
        _ = await loadBalancer.drain(timeout: .seconds(5))
        await loadBalancer.closeConnections()
        try? await invoker.shutdown(on: group.next()).get()
        logSink.shutdown()
        events.shutdown()
        try? await threadPool.shutdownGracefully()
        try? await group.shutdownGracefully()
    }
}
