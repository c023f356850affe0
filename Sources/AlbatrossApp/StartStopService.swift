import NIOPosix
import ServiceLifecycle

/// A part with a thread of its own (the access-log writer, the log retention sweeper) as a service: started when
/// the group runs, stopped on its graceful shutdown. `stop` may block, so it runs on the blocking thread pool.
struct StartStopService: Service {
    let start: @Sendable () -> Void
    let stop: @Sendable () -> Void
    let threadPool: NIOThreadPool

    func run() async throws {
        start()
        try? await gracefulShutdown()
        let stop = self.stop
        do {
            try await threadPool.runIfActive { stop() }
        } catch {
            stop()
        }
    }
}
