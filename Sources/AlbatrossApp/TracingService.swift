import NIOPosix
import ServiceLifecycle
import Tracing

/// X-Ray tracing as a service: on graceful shutdown (after the environments have stopped, so that their last
/// invokes are complete) the daemon's socket closes, the recorder writes what waits for an `Overhead` end and
/// the trace store finishes its writes.
struct TracingService: Service {
    let tracing: AlbatrossApplication.Tracing
    let threadPool: NIOThreadPool

    func run() async throws {
        try? await gracefulShutdown()
        await tracing.daemon.close()
        let recorder = tracing.recorder
        do {
            try await threadPool.runIfActive { recorder.shutdown() }
        } catch {
            recorder.shutdown()
        }
    }
}
