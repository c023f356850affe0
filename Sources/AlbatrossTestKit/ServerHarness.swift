public import AlbatrossApp
public import Configuration
public import Invocation
public import InvocationModel
public import LoadBalancer
public import NIOPosix
public import Observability
public import Registry

/// The whole front end in-process, from a YAML configuration, on free ports: the application `albatross serve`
/// runs (``AlbatrossApplication``), with its services running, without signal handling and, unless asked for,
/// without the watchers (tests that change the store or certificates while serving run the real binary).
public final class ServerHarness: Sendable {
    public let application: AlbatrossApplication
    public let listeners: [LoadBalancer.BoundListener]
    private let running: Task<Void, any Error>

    /// Parses `yaml` (relative paths against `baseDirectory`), prepares code and starts every listener.
    ///
    /// - Parameter isolation: the mode to run in; nil: `ALBATROSS_ISOLATION`, process when unset (the suite's
    ///   default, see scripts/test.sh).
    public init(
        yaml: String, baseDirectory: String, watchesChanges: Bool = false,
        isolation: EnvironmentSettings.Isolation? = nil
    ) async throws {
        application = try AlbatrossApplication(
            yaml: yaml, baseDirectory: baseDirectory, file: "\(baseDirectory)/test.yaml",
            options: .init(eventLoopThreads: 2, watchesChanges: watchesChanges).withIsolation(
                isolation ?? AlbatrossApplication.Options.isolationFromEnvironment ?? .process))
        do {
            listeners = try await application.startListeners()
        } catch {
            await application.requestShutdown()
            try? await application.run()
            throw error
        }
        running = Task { [application] in try await application.run() }
    }

    public var configuration: AlbatrossConfiguration { application.configuration }
    public var group: MultiThreadedEventLoopGroup { application.group }
    public var threadPool: NIOThreadPool { application.threadPool }
    public var logSink: LogSink { application.logSink }
    public var events: InvocationEventBus { application.events }
    public var invoker: Invoker { application.invoker }
    public var loadBalancer: LoadBalancer { application.loadBalancer! }
    public var registry: Registry { application.registry! }

    public var port: Int { listeners[0].port }

    /// A fresh connection to the first listener.
    public func client(timeout: Double = 30) throws -> RawHTTPClient {
        try RawHTTPClient(port: port, timeout: timeout)
    }

    /// The application's graceful shutdown (what SIGTERM does to `serve`), waiting until it is complete.
    public func shutdown() async {
        await application.requestShutdown()
        _ = try? await running.value
    }
}
