import AdminServer
import Foundation
import Rollout
import ServiceLifecycle

/// The rollout runner as a service: when the group starts it rolls back what a previous run left unfinished;
/// on graceful shutdown it stops the rollouts in progress and restores their aliases, before the environments and
/// the store go away.
struct RolloutService: Service {
    let runner: RolloutRunner

    func run() async throws {
        await runner.recover()
        try? await gracefulShutdown()
        await runner.shutdown()
    }
}

/// The admin listener's `/rollouts` endpoints: `POST /rollouts` (a ``RolloutRequest``) starts one, `GET /rollouts`
/// lists them, `GET /rollouts/<id>` is one ``RolloutRecord``, `POST /rollouts/<id>/stop` stops one.
enum RolloutEndpoints {
    static func route(_ runner: RolloutRunner) -> AdminServer.Route {
        AdminServer.Route { request in
            let parts = request.path.split(separator: "/").map(String.init)
            switch (request.method, parts.count) {
            case ("POST", 1):
                guard let body = try? JSONDecoder().decode(RolloutRequest.self, from: Data(request.body.utf8)) else {
                    return error(400, "the body must be a JSON rollout request: function, alias, to, config")
                }
                do {
                    return AdminServer.Response(status: 201, body: try await runner.start(body).json())
                } catch {
                    let message = "\(error)"
                    return Self.error(message.hasPrefix("conflicting deployment") ? 409 : 400, message)
                }
            case ("GET", 1):
                let list = runner.records().map { $0.json(pretty: false) }.joined(separator: ",\n")
                return AdminServer.Response(status: 200, body: "[\(list)]\n")
            case ("GET", 2):
                guard let record = runner.record(parts[1]) else { return error(404, "no rollout \(parts[1])") }
                return AdminServer.Response(status: 200, body: record.json())
            case ("POST", 3) where parts[2] == "stop":
                guard runner.stop(parts[1]) else {
                    return runner.record(parts[1]) == nil
                        ? error(404, "no rollout \(parts[1])") : error(409, "rollout \(parts[1]) has already ended")
                }
                return AdminServer.Response(status: 202, body: #"{"status":"Pending"}"# + "\n")
            default:
                return error(405, "\(request.method) \(request.path) is not a rollout endpoint")
            }
        }
    }

    private static func error(_ status: Int, _ message: String) -> AdminServer.Response {
        let object = ["message": message]
        let body = (try? JSONEncoder().encode(object)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return AdminServer.Response(status: status, body: body + "\n")
    }
}
