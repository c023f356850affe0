import Configuration
import Deployment
import Foundation
import Invocation
import InvocationModel
import LambdaModel
import NIOCore
import NIOPosix
import Observability
import Registry

/// The parts `serve` and `invoke` share: configuration, event loops, logs and the invoker.
final class PlatformRuntime: Sendable {
    let configuration: AlbatrossConfiguration
    let group: MultiThreadedEventLoopGroup
    let threadPool: NIOThreadPool
    let logSink: LogSink
    let events: InvocationEventBus
    let invoker: Invoker
    let registry: Registry
    /// `$LATEST` of every configured function, run from its code in place.
    let latest: [String: FunctionCatalog.Version]

    init(configurationPath: String, mirrorLogs: Bool) throws {
        let configuration: AlbatrossConfiguration
        do {
            configuration = try ConfigurationLoader.load(path: configurationPath)
        } catch {
            throw CommandFailure("\(error)")
        }
        self.configuration = configuration
        do {
            try FileManager.default.createDirectory(
                atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        } catch {
            throw CommandFailure("cannot create the data directory \(configuration.dataDirectory): \(error)")
        }
        var latest: [String: FunctionCatalog.Version] = [:]
        for function in configuration.functions {
            do {
                let root = try CodePreparer.taskRoot(for: function, dataDirectory: configuration.dataDirectory)
                latest[function.name] = FunctionCatalog.Version(
                    configuration: function, version: "$LATEST", taskRoot: root)
            } catch {
                throw CommandFailure("\(error)")
            }
        }
        self.latest = latest
        // The store of versions and aliases: the configuration's declarations are applied (idempotently).
        let catalog: FunctionCatalog
        do {
            registry = try Registry(dataDirectory: configuration.dataDirectory, account: configuration.account)
            try ConfigurationApplier.apply(configuration, to: registry)
            catalog = try CatalogBuilder.build(registry: registry, latest: latest)
        } catch {
            throw CommandFailure("\(error)")
        }
        group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        threadPool = NIOThreadPool(numberOfThreads: 2)
        threadPool.start()
        var mirror: (@Sendable (String) -> Void)? = nil
        if mirrorLogs { mirror = { @Sendable line in ConsoleOutput.line(line) } }
        logSink = LogSink(dataDirectory: configuration.dataDirectory, mirror: mirror)
        events = InvocationEventBus()
        logSink.attach(to: events)
        // BEGIN issue 9 bench wiring (the lead moves this into the app builder): ALBATROSS_METRICS=1 attaches the
        // metrics subscriber, so that bench/ can compare the cost per request with and without it.
        if ProcessInfo.processInfo.environment["ALBATROSS_METRICS"] == "1" {
            InvocationMetrics().attach(to: events)
        }
        // END issue 9 bench wiring
        let settings = InvokerSettings(
            account: configuration.account,
            idleTimeout: .seconds(Int64(configuration.environments.idleTimeoutSeconds)),
            defaultPythonInterpreter: configuration.environments.defaultPythonInterpreter,
            randomSeed: configuration.randomSeed,
            terminationGrace: .nanoseconds(Int64(configuration.environments.terminationGraceSeconds * 1e9)))
        invoker = Invoker(
            catalog: catalog, settings: settings, group: group, threadPool: threadPool, events: events)
    }

    /// Rebuilds the catalog whenever another process (the CLI) changes versions or aliases in the store, so that
    /// an alias change applies to the next request without a restart. Polls once a second, off the event loops.
    func watchRegistry() -> Task<Void, Never> {
        let registry = self.registry
        let latest = self.latest
        let invoker = self.invoker
        return Task.detached {
            var last = (try? CatalogBuilder.fingerprint(registry: registry)) ?? ""
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                guard let current = try? CatalogBuilder.fingerprint(registry: registry), current != last else {
                    continue
                }
                do {
                    invoker.replaceCatalog(try CatalogBuilder.build(registry: registry, latest: latest))
                    last = current
                    ConsoleOutput.line("albatross: versions or aliases changed in the store; now serving them")
                } catch {
                    ConsoleOutput.error("albatross: cannot load the changed versions or aliases: \(error)")
                }
            }
        }
    }

    /// Stops environments (waiting until their processes are reaped), then logs and threads.
    func shutdown() async {
        try? await invoker.shutdown(on: group.next()).get()
        logSink.shutdown()
        events.shutdown()
        try? await threadPool.shutdownGracefully()
        try? await group.shutdownGracefully()
    }
}

/// A failure the user can act on; printed without a stack, exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Serialised writes to standard output and error, safe from any thread.
enum ConsoleOutput {
    private static let lock = NSLock()

    static func line(_ text: String) {
        write(text + "\n", to: FileHandle.standardOutput)
    }

    static func error(_ text: String) {
        write(text + "\n", to: FileHandle.standardError)
    }

    private static func write(_ text: String, to handle: FileHandle) {
        lock.lock()
        defer { lock.unlock() }
        handle.write(Data(text.utf8))
    }
}
