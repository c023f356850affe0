import AdminServer
import Foundation
import LoadBalancer
import Routing

/// The admin listener's `/weights`: the weights of the running listeners' forward actions, and changing them
/// (`albatross weights`), for canaries at the ALB level (weighted target groups) rather than the alias level.
///
/// `GET /weights` lists every forward action with more than one target group as
/// `{"port", "rule" (priority, or null for the default action), "targetGroups": [{"name", "weight"}],
/// "stickinessSeconds"}`; `POST /weights` with `{"port", "rule"?, "weights": {"<group>": 0–999}}` changes one
/// action through ``LoadBalancer/setWeights(port:rulePriority:weights:)`` (200 and the action; 400 with the
/// reason). The change is not persisted: it lasts until the configuration file's listeners or target groups
/// change (the file is applied again) or the server restarts.
enum WeightEndpoints {
    struct Change: Decodable {
        var port: Int
        var rule: Int?
        var weights: [String: Int]
    }

    static func route(_ loadBalancer: LoadBalancer) -> AdminServer.Route {
        AdminServer.Route { request in
            switch request.method {
            case "GET":
                let actions = loadBalancer.currentListeners.flatMap { port, configuration in
                    let rules: [(Int?, RuleAction)] =
                        configuration.rules.sorted { $0.priority < $1.priority }.map { ($0.priority, $0.action) }
                        + [(nil, configuration.defaultAction)]
                    return rules.compactMap { priority, action -> [String: Any]? in
                        guard case .forward(let forward) = action, forward.targetGroups.count > 1 else { return nil }
                        return describe(port: port, rule: priority, forward)
                    }
                }
                return json(200, actions)
            case "POST":
                guard let change = try? JSONDecoder().decode(Change.self, from: Data(request.body.utf8)) else {
                    return json(
                        400, ["message": "the body must be {\"port\": P, \"rule\": N?, \"weights\": {\"group\": W}}"])
                }
                do {
                    let forward = try loadBalancer.setWeights(
                        port: change.port, rulePriority: change.rule, weights: change.weights)
                    return json(200, describe(port: change.port, rule: change.rule, forward))
                } catch {
                    return json(400, ["message": "\(error)"])
                }
            default:
                return json(405, ["message": "\(request.method) /weights: use GET or POST"])
            }
        }
    }

    static func describe(port: Int, rule: Int?, _ forward: ForwardAction) -> [String: Any] {
        [
            "port": port, "rule": rule.map { $0 as Any } ?? NSNull(),
            "targetGroups": forward.targetGroups.map { ["name": $0.targetGroupName, "weight": $0.weight] },
            "stickinessSeconds": forward.stickinessDurationSeconds.map { $0 as Any } ?? NSNull(),
        ]
    }

    static func json(_ status: Int, _ value: Any) -> AdminServer.Response {
        let data = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])) ?? Data("{}".utf8)
        return AdminServer.Response(status: status, body: String(decoding: data, as: UTF8.self) + "\n")
    }
}
