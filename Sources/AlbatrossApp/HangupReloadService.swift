import AlbatrossTLS
import Logging
import NIOPosix
import ServiceLifecycle

/// SIGHUP reloads the certificates of every HTTPS listener now (what an operator does after renewing them),
/// without touching live connections, and reads the configuration file and `$LATEST`'s code again (the catalog
/// reloader, when the server watches for changes). A listener whose files do not load keeps its certificates, and
/// says so.
struct HangupReloadService: Service {
    let contexts: [Int: TLSServerContext]
    let reloader: CatalogReloader?
    let traps: SignalTraps
    let threadPool: NIOThreadPool
    let logger: Logger

    func run() async throws {
        let contexts = self.contexts.sorted { $0.key < $1.key }
        for await _ in await traps.install().hangup.cancelOnGracefulShutdown() {
            if let reloader {
                try? await threadPool.runIfActive { reloader.check(rereadConfiguration: true) }
            }
            for (index, context) in contexts {
                let result = await Result(catching: { try await threadPool.runIfActive { try context.reload() } })
                switch result {
                case .success:
                    logger.info("SIGHUP: reloaded the certificates of listener \(index)")
                case .failure(let error):
                    logger.error("SIGHUP: listener \(index) keeps its certificates: \(error)")
                }
            }
        }
    }
}
