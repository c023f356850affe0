import AlbatrossTLS
import Logging
import NIOPosix
import ServiceLifecycle

/// SIGHUP reloads the certificates of every HTTPS listener and of the control API's listener when it serves HTTPS
/// now (what an operator does after renewing them), without touching live connections, and reads the configuration file and `$LATEST`'s code again (the catalog
/// reloader, when the server watches for changes). A listener whose files do not load keeps its certificates, and
/// says so.
struct HangupReloadService: Service {
    /// Each TLS context with the name the log gives it (`listener 0`, `the API listener`).
    let contexts: [(name: String, context: TLSServerContext)]
    let reloader: CatalogReloader?
    let traps: SignalTraps
    let threadPool: NIOThreadPool
    let logger: Logger

    func run() async throws {
        let contexts = self.contexts
        for await _ in await traps.install().hangup.cancelOnGracefulShutdown() {
            if let reloader {
                try? await threadPool.runIfActive { reloader.check(rereadConfiguration: true) }
            }
            for (name, context) in contexts {
                let result = await Result(catching: { try await threadPool.runIfActive { try context.reload() } })
                switch result {
                case .success:
                    logger.info("SIGHUP: reloaded the certificates of \(name)")
                case .failure(let error):
                    logger.error("SIGHUP: \(name) keeps its certificates: \(error)")
                }
            }
        }
    }
}
