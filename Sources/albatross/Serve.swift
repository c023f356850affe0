import AlbatrossTLS
import ArgumentParser
import Configuration
import Dispatch
import Foundation
import LoadBalancer
import Routing

/// `albatross serve`: runs every listener of a configuration until SIGINT or SIGTERM.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start the listeners of a configuration and serve until interrupted.",
        discussion: """
            On SIGINT or SIGTERM it stops accepting connections, lets requests in flight finish (up to \
            environments.shutdownGraceSeconds), shuts every execution environment down and exits 0.
            """)

    @Option(name: .shortAndLong, help: "The YAML configuration file.")
    var config: String

    @Flag(name: .long, help: "Do not copy function logs to standard output (they are always in the data directory).")
    var quiet = false

    func run() async throws {
        let runtime: PlatformRuntime
        do {
            runtime = try PlatformRuntime(configurationPath: config, mirrorLogs: !quiet)
        } catch let failure as CommandFailure {
            ConsoleOutput.error("albatross: \(failure)")
            throw ExitCode(1)
        }
        let configuration = runtime.configuration
        let tlsContexts: [Int: TLSServerContext]
        do {
            tlsContexts = try LoadBalancer.makeTLSContexts(for: configuration.listeners)
        } catch {
            ConsoleOutput.error("albatross: \(error)")
            await runtime.shutdown()
            throw ExitCode(1)
        }
        if !tlsContexts.isEmpty { ConsoleOutput.line("albatross: \(OpenSSLVersion.current)") }
        let loadBalancer = LoadBalancer(
            listeners: configuration.listeners, targetGroups: configuration.targetGroups,
            attributes: configuration.loadBalancerAttributes, invoker: runtime.invoker, events: runtime.events,
            group: runtime.group,
            tlsContexts: tlsContexts)
        let signals = SignalWaiter(signals: [SIGINT, SIGTERM, SIGHUP])
        let bound: [LoadBalancer.BoundListener]
        do {
            bound = try await loadBalancer.start()
        } catch {
            ConsoleOutput.error("albatross: \(error)")
            await runtime.shutdown()
            throw ExitCode(1)
        }
        ConsoleOutput.line("albatross: data directory \(configuration.dataDirectory)")
        for listener in bound {
            ConsoleOutput.line("albatross: listening on \(listener.url) (\(listener.configuration.protocol.rawValue))")
        }
        let registryWatcher = runtime.watchRegistry()
        // Certificates are reloaded on SIGHUP and when their files change (checked every few seconds, off the
        // event loops); live connections keep the certificate they started with.
        let certificateWatcher = Task.detached {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(5))
                for context in tlsContexts.values {
                    if (try? context.reloadIfChanged()) == true {
                        ConsoleOutput.line("albatross: certificates changed on disk, reloaded")
                    }
                }
            }
        }
        var signal = await signals.next()
        while signal == SIGHUP {
            for (index, context) in tlsContexts.sorted(by: { $0.key < $1.key }) {
                do {
                    try context.reload()
                    ConsoleOutput.line("albatross: SIGHUP: reloaded the certificates of listener \(index)")
                } catch {
                    ConsoleOutput.error("albatross: SIGHUP: listener \(index) keeps its certificates: \(error)")
                }
            }
            signal = await signals.next()
        }
        certificateWatcher.cancel()
        registryWatcher.cancel()
        ConsoleOutput.line("albatross: received \(signal == SIGINT ? "SIGINT" : "SIGTERM"), shutting down")
        await loadBalancer.stopAccepting()
        let grace = Duration.seconds(configuration.environments.shutdownGraceSeconds)
        if !(await loadBalancer.drain(timeout: grace)) {
            ConsoleOutput.line(
                "albatross: \(loadBalancer.requestsInFlight) request(s) still in flight after \(grace), closing them")
        }
        await loadBalancer.closeConnections()
        await runtime.shutdown()
        ConsoleOutput.line("albatross: stopped")
    }
}

/// Turns SIGINT/SIGTERM into an awaitable value (the default handlers are disabled while it lives).
final class SignalWaiter {
    private let sources: [any DispatchSourceSignal]
    private let stream: AsyncStream<Int32>
    private let continuation: AsyncStream<Int32>.Continuation

    init(signals: [Int32]) {
        (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        let continuation = self.continuation
        var sources: [any DispatchSourceSignal] = []
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            sources.append(source)
        }
        self.sources = sources
    }

    func next() async -> Int32 {
        for await number in stream { return number }
        return SIGTERM
    }
}
