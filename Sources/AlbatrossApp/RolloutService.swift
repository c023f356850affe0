import AdminServer
import Configuration
import Foundation
import Logging
import Rollout
import ServiceLifecycle

/// The rollout runner as a service: when the group starts it rolls back what a previous run left unfinished;
/// on graceful shutdown it stops the rollouts in progress and restores their aliases, before the environments and
/// the store go away. In between it looks twice a second for versions published for an alias with a
/// `deploymentPreference` (by `albatross publish`, the control API's PublishVersion or a version added to the YAML)
/// and rolls each out (``RolloutRunner/deployNewVersions(_:)``).
struct RolloutService: Service {
    let runner: RolloutRunner
    /// The configuration as last applied (it may be edited while the server runs).
    let configuration: @Sendable () -> AlbatrossConfiguration

    func run() async throws {
        await runner.recover()
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let preferences = Self.autoDeployments(of: configuration())
                if !preferences.isEmpty { await runner.deployNewVersions(preferences) }
                try await Task.sleep(nanoseconds: 500_000_000)
            }
        }
        await runner.shutdown()
    }

    /// The enabled deployment preferences of the declared aliases, as rollout requests.
    static func autoDeployments(of configuration: AlbatrossConfiguration) -> [AutoDeployment] {
        configuration.declaredAliases.sorted { $0.key < $1.key }.flatMap { function, aliases in
            aliases.compactMap { alias -> AutoDeployment? in
                guard let preference = alias.deploymentPreference, preference.enabled else { return nil }
                return AutoDeployment(
                    function: function, alias: alias.name,
                    request: RolloutRequest(
                        function: function, alias: alias.name, to: "", config: preference.type,
                        timeScale: preference.timeScale, alarms: preference.alarms,
                        preHook: preference.preTrafficHook, postHook: preference.postTrafficHook))
            }
        }
    }

    /// Checks every deployment preference as a rollout would (configuration name, alarm rules), so a bad one fails
    /// the start with its file, line and key; logs once that `TriggerConfigurations` send nothing.
    static func check(_ configuration: AlbatrossConfiguration, logger: Logger) throws(ConfigurationError) {
        for (function, aliases) in configuration.declaredAliases.sorted(by: { $0.key < $1.key }) {
            for alias in aliases {
                guard let preference = alias.deploymentPreference else { continue }
                do {
                    _ = try DeploymentConfiguration.parse(preference.type)
                    for rule in preference.alarms { _ = try AlarmRule.parse(rule) }
                    if preference.alarms.count > 10 { throw RolloutError("at most 10 alarms (CodeDeploy's limit)") }
                } catch {
                    throw preference.site.error("\(error)")
                }
                if !preference.triggers.isEmpty {
                    let names = preference.triggers.map(\.name).joined(separator: ", ")
                    logger.warning(
                        "\(function):\(alias.name): deploymentPreference.TriggerConfigurations (\(names)) send no notifications here (no SNS)"
                    )
                }
            }
        }
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
