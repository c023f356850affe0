import Configuration
import Foundation
import Invocation
import LambdaModel
import LoadBalancer
public import Observability
import Routing

/// The document `GET /status` answers (and `albatross status` shows): what the server serves right now. The
/// listeners with their rules, the target groups, every function with its versions and aliases (weights and
/// stickiness) as the invoker's current catalog has them, each live execution environment with its state, and the
/// invocation counts since start. Built on the admin thread pool from immutable snapshots; nothing here locks the
/// hot path.
public struct StatusReport: Codable, Equatable, Sendable {
    public struct Server: Codable, Equatable, Sendable {
        public var pid: Int32
        public var startedAt: String
        public var uptimeSeconds: Double
        public var dataDirectory: String
        /// What contains each environment: `cgroup v2 (...)`, `cgroup v1 (...)` or `none: <why>; ...`
        /// (``ControlGroups/Detection/summary``).
        public var controlGroups: String?
        /// How runtimes are isolated: `sandbox (...)` or `process...` (``Sandbox/Detection/summary``).
        public var isolation: String?
    }

    public struct Listener: Codable, Equatable, Sendable {
        public var `protocol`: String
        public var url: String?
        public var port: Int
        public var defaultAction: Action
        public var rules: [Rule]
    }

    public struct Rule: Codable, Equatable, Sendable {
        public var priority: Int
        /// AWS's condition fields: `host-header`, `path-pattern`, `http-request-method`, `http-header`,
        /// `query-string`, `source-ip`, each with its values.
        public var conditions: [Condition]
        public var action: Action
    }

    public struct Condition: Codable, Equatable, Sendable {
        public var field: String
        public var values: [String]
        public var headerName: String?
    }

    public struct Action: Codable, Equatable, Sendable {
        /// `forward`, `fixed-response` or `redirect`.
        public var type: String
        public var targetGroups: [WeightedTarget]?
        public var statusCode: Int?
        public var location: String?
    }

    public struct WeightedTarget: Codable, Equatable, Sendable {
        public var name: String
        public var weight: Int
    }

    public struct TargetGroup: Codable, Equatable, Sendable {
        public var name: String
        public var arn: String
        /// `function` or `function:qualifier`; nil without a registered target (503).
        public var target: String?
    }

    public struct Function: Codable, Equatable, Sendable {
        public var name: String
        public var versions: [Version]
        public var aliases: [Alias]
    }

    public struct Version: Codable, Equatable, Sendable {
        public var version: String
        public var runtime: String
        public var handler: String
        public var memorySize: Int
        public var timeout: Int
        public var maximumConcurrency: Int
        /// `$LATEST` only: the revision of the code it runs (it changes when the directory is edited).
        public var codeRevision: String?
    }

    public struct Alias: Codable, Equatable, Sendable {
        public var name: String
        public var functionVersion: String
        /// The additional version and its weight (0.0–1.0), as AWS's `AdditionalVersionWeights`.
        public var additionalVersionWeights: [String: Double]
        public var stickiness: String?
    }

    public var server: Server
    public var listeners: [Listener]
    public var targetGroups: [TargetGroup]
    public var functions: [Function]
    public var environments: [InvocationStatus.Environment]
    public var invocations: [InvocationStatus.Totals]

    init(
        configuration: AlbatrossConfiguration, bound: [LoadBalancer.BoundListener], catalog: FunctionCatalog,
        status: InvocationStatus, startedAt: Date, now: Date = Date(), controlGroups: String? = nil,
        isolation: String? = nil
    ) {
        server = Server(
            pid: getpid(), startedAt: Self.iso8601(startedAt),
            uptimeSeconds: (now.timeIntervalSince(startedAt) * 1000).rounded() / 1000,
            dataDirectory: configuration.dataDirectory, controlGroups: controlGroups, isolation: isolation)
        listeners = configuration.listeners.enumerated().map { index, listener in
            let bound = bound.count > index ? bound[index] : nil
            return Listener(
                protocol: listener.protocol.rawValue, url: bound?.url, port: bound?.port ?? listener.port,
                defaultAction: Self.action(listener.defaultAction),
                rules: listener.rules.sorted { $0.priority < $1.priority }.map { rule in
                    Rule(
                        priority: rule.priority, conditions: rule.conditions.map(Self.condition),
                        action: Self.action(rule.action))
                })
        }
        targetGroups = configuration.targetGroups.map { group in
            TargetGroup(
                name: group.name, arn: group.arn,
                target: group.functionName.map { name in group.qualifier.map { "\(name):\($0)" } ?? name })
        }
        functions = catalog.functions.sorted { $0.key < $1.key }.map { name, function in
            Function(
                name: name,
                versions: function.versions.values.sorted { Self.versionOrder($0.version, $1.version) }.map {
                    version in
                    let configuration = version.configuration
                    return Version(
                        version: version.version, runtime: configuration.runtime.identifier,
                        handler: configuration.handler, memorySize: configuration.memorySize,
                        timeout: configuration.timeout, maximumConcurrency: configuration.maximumConcurrency,
                        codeRevision: version.codeRevision)
                },
                aliases: function.aliases.sorted { $0.key < $1.key }.map { name, routing in
                    var weights: [String: Double] = [:]
                    if let additional = routing.additionalVersion { weights[additional] = routing.additionalWeight }
                    return Alias(
                        name: name, functionVersion: routing.primaryVersion, additionalVersionWeights: weights,
                        stickiness: routing.stickiness?.description)
                })
        }
        environments = status.environments
        invocations = status.totals
    }

    /// `$LATEST` first, then versions by number.
    private static func versionOrder(_ a: String, _ b: String) -> Bool {
        switch (Int(a), Int(b)) {
        case (nil, nil): return a < b
        case (nil, _): return true
        case (_, nil): return false
        case (let x?, let y?): return x < y
        }
    }

    private static func condition(_ condition: RuleCondition) -> Condition {
        switch condition {
        case .hostHeader(let values): return Condition(field: "host-header", values: values)
        case .pathPattern(let values): return Condition(field: "path-pattern", values: values)
        case .httpRequestMethod(let values): return Condition(field: "http-request-method", values: values)
        case .httpHeader(let name, let values): return Condition(field: "http-header", values: values, headerName: name)
        case .queryString(let pairs):
            return Condition(
                field: "query-string",
                values: pairs.map { pair in pair.key.map { "\($0)=\(pair.value)" } ?? pair.value })
        case .sourceIP(let values): return Condition(field: "source-ip", values: values)
        }
    }

    private static func action(_ action: RuleAction) -> Action {
        switch action {
        case .forward(let forward):
            return Action(
                type: "forward",
                targetGroups: forward.targetGroups.map { WeightedTarget(name: $0.targetGroupName, weight: $0.weight) })
        case .fixedResponse(let fixed):
            return Action(type: "fixed-response", statusCode: fixed.statusCode)
        case .redirect(let redirect):
            let location = [
                redirect.protocol.map { "\($0.lowercased())://" } ?? "#{protocol}://",
                redirect.host ?? "#{host}", ":", redirect.port ?? "#{port}", redirect.path ?? "/#{path}",
                "?", redirect.query ?? "#{query}",
            ].joined()
            return Action(type: "redirect", statusCode: redirect.statusCode, location: location)
        }
    }

    static func iso8601(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    /// The JSON text, keys sorted, indented.
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)).map { $0 + "\n" } ?? "{}\n"
    }
}
