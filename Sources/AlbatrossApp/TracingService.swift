import NIOPosix
import ServiceLifecycle
import Tracing

/// Tracing as a service: on graceful shutdown (after the environments have stopped, so that their last
/// invokes are complete) the daemon's socket and the OTLP receiver close, the recorder writes what waits for an
/// `Overhead` end, the trace store finishes its writes and the exporter sends what is left (5 s at most).
struct TracingService: Service {
    let tracing: AlbatrossApplication.Tracing
    let threadPool: NIOThreadPool

    func run() async throws {
        try? await gracefulShutdown()
        await tracing.daemon.close()
        await tracing.receiver.close()
        let recorder = tracing.recorder
        let exporter = tracing.exporter
        let finish: @Sendable () -> Void = {
            recorder.shutdown()
            // What the store wrote last goes out too, for a few seconds at most (a collector that is down would
            // otherwise hold the shutdown through every retry).
            exporter?.drain(seconds: 5)
            exporter?.shutdown()
        }
        do {
            try await threadPool.runIfActive { finish() }
        } catch {
            finish()
        }
    }
}
