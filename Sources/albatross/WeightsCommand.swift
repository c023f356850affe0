import ArgumentParser
import Foundation

/// `albatross weights`: show or change the weights of a running server's weighted forward actions (ALB-level
/// canaries between target groups), through its admin listener's `/weights`. Not persisted: see docs/rollouts.md.
struct WeightsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weights",
        abstract: "Show or change the target-group weights of a running server's forward actions.",
        discussion: """
            albatross weights -c config.yaml                          # every weighted forward action
            albatross weights --port 8080 blue=90 green=10 -c config.yaml   # the listener's default action
            albatross weights --port 8080 --rule 10 green=999 --admin 127.0.0.1:9090
            The change applies from the next request, on open connections too; clients holding an AWSALBTG \
            cookie stay on their group. It lasts until the file's listeners or target groups change or the server \
            restarts (see docs/rollouts.md).
            """)

    @Option(help: "The listener's port (as bound; see `albatross status`).") var port: Int?
    @Option(help: "The rule's priority; the default action when omitted.") var rule: Int?
    @Argument(help: "GROUP=WEIGHT (0–999) for target groups of the action; none shows the weights.")
    var assignments: [String] = []
    @OptionGroup var target: RolloutCommand.Target

    func validate() throws {
        if !assignments.isEmpty && port == nil { throw ValidationError("--port names the listener to change") }
        for assignment in assignments where Self.parse(assignment) == nil {
            throw ValidationError("\(assignment): expected GROUP=WEIGHT with a weight 0–999")
        }
    }

    static func parse(_ text: String) -> (String, Int)? {
        guard let equals = text.firstIndex(of: "="), let weight = Int(text[text.index(after: equals)...]),
            (0...999).contains(weight), equals != text.startIndex
        else { return nil }
        return (String(text[..<equals]), weight)
    }

    func run() throws {
        try reportingFailures {
            let (host, adminPort) = try target.address()
            if assignments.isEmpty {
                let (status, answer) = try AdminClient.request(
                    host: host, port: adminPort, method: "GET", path: "/weights")
                guard status == 200, let actions = try JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [Any]
                else { throw CommandFailure(RolloutProgress.message(answer)) }
                if actions.isEmpty { print("no weighted forward actions") }
                for case let action as [String: Any] in actions where port == nil || action["port"] as? Int == port {
                    print(Self.line(action))
                }
                return
            }
            var weights: [String: Int] = [:]
            for assignment in assignments {
                let (name, weight) = Self.parse(assignment)!
                weights[name] = weight
            }
            var change: [String: Any] = ["port": port!, "weights": weights]
            if let rule { change["rule"] = rule }
            let body = String(decoding: try JSONSerialization.data(withJSONObject: change), as: UTF8.self)
            let (status, answer) = try AdminClient.request(
                host: host, port: adminPort, method: "POST", path: "/weights", body: body)
            guard status == 200,
                let action = try? JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any]
            else { throw CommandFailure(RolloutProgress.message(answer)) }
            print(Self.line(action))
        }
    }

    /// `port 8080 default: blue 90 (90 %), green 10 (10 %)  stickiness 300 s`.
    static func line(_ action: [String: Any]) -> String {
        let groups = (action["targetGroups"] as? [[String: Any]]) ?? []
        let total = groups.compactMap { $0["weight"] as? Int }.reduce(0, +)
        let parts = groups.map { group -> String in
            let weight = group["weight"] as? Int ?? 0
            let share = total > 0 ? Double(weight) * 100 / Double(total) : 0
            return "\(group["name"] as? String ?? "?") \(weight) (\(String(format: "%.1f", share)) %)"
        }
        let rule = (action["rule"] as? Int).map { "rule \($0)" } ?? "default"
        let sticky = (action["stickinessSeconds"] as? Int).map { "  stickiness \($0) s" } ?? ""
        return "port \(action["port"] as? Int ?? 0) \(rule): " + parts.joined(separator: ", ") + sticky
    }
}
