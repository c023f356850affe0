import Deployment
import Invocation
import Logging
import NIOPosix
import Registry
import ServiceLifecycle

/// Rebuilds the invoker's catalog whenever another process (the CLI) changes versions or aliases in the store, so
/// that an alias change applies to the next request without a restart.
///
/// Polls the store's fingerprint once a second (the store is SQLite shared with other processes; there is no
/// change notification to wait for), on the blocking thread pool. A failure is reported once, not every second,
/// and again only when it changes.
struct CatalogWatcherService: Service {
    let registry: Registry
    let latest: [String: FunctionCatalog.Version]
    let invoker: Invoker
    let threadPool: NIOThreadPool
    let logger: Logger
    var interval: Duration = .seconds(1)

    func run() async throws {
        let registry = self.registry
        let latest = self.latest
        var last = try? await threadPool.runIfActive { try CatalogBuilder.fingerprint(registry: registry) }
        var reported: String?
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown { [interval] in try await Task.sleep(for: interval) }
            } catch {
                return
            }
            let result = await Result(catching: { [last] in
                try await threadPool.runIfActive { () throws -> (String, FunctionCatalog?) in
                    let current = try CatalogBuilder.fingerprint(registry: registry)
                    guard current != last else { return (current, nil) }
                    return (current, try CatalogBuilder.build(registry: registry, latest: latest))
                }
            })
            switch result {
            case .success((let current, let catalog)):
                reported = nil
                guard let catalog else { continue }
                invoker.replaceCatalog(catalog)
                last = current
                logger.info("versions or aliases changed in the store; now serving them")
            case .failure(let error):
                let message = "\(error)"
                if message != reported {
                    reported = message
                    logger.error("cannot load the changed versions or aliases: \(message)")
                }
            }
        }
    }
}
