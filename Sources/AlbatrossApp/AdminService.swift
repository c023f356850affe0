import AdminServer
import Logging
import ServiceLifecycle

/// The admin listener (`GET /metrics`) as a service: bound when the group runs, closed on graceful shutdown,
/// after the ALB listeners have drained (so a scrape during the drain still answers).
struct AdminService: Service {
    let server: AdminServer
    let host: String
    let logger: Logger

    func run() async throws {
        let port = try await server.start()
        let shown = host.contains(":") ? "[\(host)]" : host
        logger.info("admin listener on http://\(shown):\(port) (GET /metrics, GET /status)")
        try? await gracefulShutdown()
        await server.stop()
    }
}
