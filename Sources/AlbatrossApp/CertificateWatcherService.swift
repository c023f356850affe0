import AlbatrossTLS
import Logging
import NIOPosix
import ServiceLifecycle

/// Reloads the certificates of HTTPS listeners when their files change, checked every `interval` on the blocking
/// thread pool; live connections keep the certificate they started with.
///
/// A file that changed but does not load (half written, wrong key) is reported once per listener and distinct
/// error, and the loaded certificates stay in use; the next successful check clears the report.
struct CertificateWatcherService: Service {
    let contexts: [Int: TLSServerContext]
    let interval: Duration
    let threadPool: NIOThreadPool
    let logger: Logger

    func run() async throws {
        var reported: [Int: String] = [:]
        let contexts = self.contexts.sorted { $0.key < $1.key }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown { [interval] in try await Task.sleep(for: interval) }
            } catch {
                return
            }
            for (index, context) in contexts {
                let result = await Result(catching: {
                    try await threadPool.runIfActive { try context.reloadIfChanged() }
                })
                switch result {
                case .success(let reloaded):
                    reported[index] = nil
                    if reloaded { logger.info("certificates changed on disk, reloaded") }
                case .failure(let error):
                    let message = "\(error)"
                    guard reported[index] != message else { continue }
                    reported[index] = message
                    logger.error("listener \(index): certificates changed on disk but keep the loaded ones: \(message)")
                }
            }
        }
    }
}
