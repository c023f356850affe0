import AlbatrossTLS
import Logging
import NIOPosix
import ServiceLifecycle

/// Reloads the certificates of HTTPS listeners (and of the control API's, when it serves HTTPS) when their files
/// change, checked every `interval` on the blocking
/// thread pool; live connections keep the certificate they started with.
///
/// A file that changed but does not load (half written, wrong key) is reported once per listener and distinct
/// error, and the loaded certificates stay in use; the next successful check clears the report.
struct CertificateWatcherService: Service {
    /// Each TLS context with the name the log gives it (`listener 0`, `the API listener`).
    let contexts: [(name: String, context: TLSServerContext)]
    let interval: Duration
    let threadPool: NIOThreadPool
    let logger: Logger

    func run() async throws {
        var reported: [String: String] = [:]
        let contexts = self.contexts
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown { [interval] in try await Task.sleep(for: interval) }
            } catch {
                return
            }
            for (name, context) in contexts {
                let result = await Result(catching: {
                    try await threadPool.runIfActive { try context.reloadIfChanged() }
                })
                switch result {
                case .success(let reloaded):
                    reported[name] = nil
                    if reloaded { logger.info("\(name): certificates changed on disk, reloaded") }
                case .failure(let error):
                    let message = "\(error)"
                    guard reported[name] != message else { continue }
                    reported[name] = message
                    logger.error("\(name): certificates changed on disk but keep the loaded ones: \(message)")
                }
            }
        }
    }
}
