import ControlAPI
import Logging
import ServiceLifecycle

/// The Lambda control API listener as a service: bound by `startListeners()` with the ALB listeners (or, without
/// them, when the group runs), closed on graceful shutdown, after the ALB listeners have drained.
struct ControlAPIService: Service {
    let server: ControlAPIServer
    let host: String
    let auth: String
    let logger: Logger

    func run() async throws {
        let port = try await server.start()
        let shown = host.contains(":") ? "[\(host)]" : host
        logger.info("control API on http://\(shown):\(port) (auth: \(auth))")
        try? await gracefulShutdown()
        await server.stop()
    }
}
