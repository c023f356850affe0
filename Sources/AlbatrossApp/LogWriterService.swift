import InvocationModel
import NIOPosix
import Observability
import ServiceLifecycle

/// The log writer as a service, so that it stops last: on graceful shutdown (or cancellation) everything enqueued
/// is written and the writer thread ends. The flush blocks, so it runs on the blocking thread pool.
struct LogWriterService: Service {
    let logSink: LogSink
    let events: InvocationEventBus
    let threadPool: NIOThreadPool

    func run() async throws {
        try? await gracefulShutdown()
        let logSink = self.logSink
        let events = self.events
        // Every other subscriber has had its events by now: the log writer is the last service to stop.
        let stop: @Sendable () -> Void = {
            logSink.shutdown()
            events.shutdown()
        }
        do {
            try await threadPool.runIfActive { stop() }
        } catch {
            // The pool is stopped only after the group has finished; should it be gone, flush here.
            stop()
        }
    }
}
