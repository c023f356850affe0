import NIOPosix
import ServiceLifecycle

/// Runs ``CatalogReloader/check(rereadConfiguration:)`` once a second on the blocking thread pool, so that an
/// edit to the configuration file or to `$LATEST`'s code, and a version or alias change the CLI makes in the
/// store, apply to the next request without a restart.
///
/// It polls: the store is SQLite shared with other processes and has no change notification, and a code
/// directory would need one inotify watch per subdirectory; a walk of a function's tree once a second is cheap
/// next to that (see ``CodePreparer/revision(of:)`` for its bound).
struct CatalogWatcherService: Service {
    let reloader: CatalogReloader
    let threadPool: NIOThreadPool
    var interval: Duration = .seconds(1)

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown { [interval] in try await Task.sleep(for: interval) }
            } catch {
                return
            }
            try? await threadPool.runIfActive { [reloader] in reloader.check() }
        }
    }
}
