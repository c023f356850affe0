import Invocation
import NIOCore
import ServiceLifecycle

/// The execution environments as a service: nothing to do while running (pools start environments on demand);
/// on graceful shutdown (or cancellation) the invoker refuses new invokes, stops every environment and returns
/// once every runtime process has been reaped.
struct EnvironmentsService: Service {
    let invoker: Invoker
    let group: any EventLoopGroup

    func run() async throws {
        try? await gracefulShutdown()
        try await invoker.shutdown(on: group.next()).get()
    }
}
