import Foundation

/// A CodeDeploy deployment configuration for Lambda (rollouts.md §1.2, §1.3): how much of an alias's traffic moves
/// to the target version, and when. Predefined configurations go by their AWS names; custom ones are
/// `TimeBasedCanary` / `TimeBasedLinear` with a percentage and an interval in whole minutes.
public struct DeploymentConfiguration: Sendable, Hashable, Codable {
    /// How traffic is routed, as CodeDeploy's `trafficRoutingConfig.type`.
    public enum TrafficRouting: Sendable, Hashable, Codable {
        case allAtOnce
        /// `percentage` at once, the rest after `intervalMinutes`.
        case canary(percentage: Int, intervalMinutes: Int)
        /// `percentage` at the start of each increment, `intervalMinutes` between increments.
        case linear(percentage: Int, intervalMinutes: Int)
    }

    /// One shift of traffic: `percent` of the alias's traffic goes to the target version `atMinutes` after the
    /// traffic phase began.
    public struct Shift: Sendable, Hashable, Codable {
        public var atMinutes: Int
        public var percent: Int

        public init(atMinutes: Int, percent: Int) {
            self.atMinutes = atMinutes
            self.percent = percent
        }
    }

    /// `CodeDeployDefault.LambdaCanary10Percent5Minutes`, or the custom form as given.
    public var name: String
    public var routing: TrafficRouting

    public init(name: String, routing: TrafficRouting) {
        self.name = name
        self.routing = routing
    }

    public static let prefix = "CodeDeployDefault."

    /// Every predefined Lambda configuration, by full name (note AWS's spelling: `Every1Minute`, singular).
    public static let predefined: [String: DeploymentConfiguration] = {
        var all: [String: DeploymentConfiguration] = [:]
        func add(_ short: String, _ routing: TrafficRouting) {
            all[prefix + short] = DeploymentConfiguration(name: prefix + short, routing: routing)
        }
        for minutes in [5, 10, 15, 30] {
            add("LambdaCanary10Percent\(minutes)Minutes", .canary(percentage: 10, intervalMinutes: minutes))
        }
        add("LambdaLinear10PercentEvery1Minute", .linear(percentage: 10, intervalMinutes: 1))
        for minutes in [2, 3, 10] {
            add("LambdaLinear10PercentEvery\(minutes)Minutes", .linear(percentage: 10, intervalMinutes: minutes))
        }
        add("LambdaAllAtOnce", .allAtOnce)
        return all
    }()

    /// Most minutes between the first and the last shift, and most percent in one increment (§1.3, §1.9).
    public static let maximumMinutes = 2880
    public static let maximumIncrement = 99

    /// Parses a configuration as the CLI and the admin API take it:
    /// - a predefined name, with or without the `CodeDeployDefault.` prefix, or as SAM spells it
    ///   (`Canary10Percent5Minutes`, `AllAtOnce`);
    /// - `TimeBasedCanary:PERCENT:MINUTES`, `TimeBasedLinear:PERCENT:MINUTES`, `AllAtOnce`;
    /// - the AWS CLI shape `type=TimeBasedCanary,timeBasedCanary={canaryPercentage=25,canaryInterval=45}`.
    public static func parse(_ text: String) throws(RolloutError) -> DeploymentConfiguration {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let found = predefined[trimmed] ?? predefined[prefix + trimmed] ?? predefined[prefix + "Lambda" + trimmed] {
            return found
        }
        if trimmed == "AllAtOnce" || trimmed == "type=AllAtOnce" {
            return DeploymentConfiguration(name: "AllAtOnce", routing: .allAtOnce)
        }
        let kind: String
        let numbers: [Int]
        if trimmed.hasPrefix("type=") {
            // type=TimeBasedCanary,timeBasedCanary={canaryPercentage=25,canaryInterval=45}
            let body = trimmed.dropFirst("type=".count)
            kind = String(body.prefix { $0 != "," })
            var fields: [String: Int] = [:]
            let inner = body.drop { $0 != "{" }.dropFirst().prefix { $0 != "}" }
            for pair in inner.split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1).map {
                    $0.trimmingCharacters(in: .whitespaces)
                }
                if parts.count == 2, let value = Int(parts[1]) { fields[parts[0].lowercased()] = value }
            }
            let key = kind == "TimeBasedCanary" ? "canary" : "linear"
            guard let percent = fields["\(key)percentage"], let minutes = fields["\(key)interval"] else {
                throw RolloutError("\(text): expected \(key)Percentage and \(key)Interval")
            }
            numbers = [percent, minutes]
        } else {
            let parts = trimmed.split(separator: ":").map(String.init)
            kind = parts.first ?? ""
            numbers = parts.dropFirst().compactMap { Int($0) }
            guard parts.count == 3, numbers.count == 2 else {
                throw RolloutError(
                    "unknown deployment configuration \"\(text)\": give a CodeDeployDefault.Lambda* name, "
                        + "TimeBasedCanary:PERCENT:MINUTES or TimeBasedLinear:PERCENT:MINUTES")
            }
        }
        let routing: TrafficRouting
        switch kind {
        case "TimeBasedCanary": routing = .canary(percentage: numbers[0], intervalMinutes: numbers[1])
        case "TimeBasedLinear": routing = .linear(percentage: numbers[0], intervalMinutes: numbers[1])
        case "TimeBasedFlexible": throw RolloutError("TimeBasedFlexible does not apply to Lambda deployments")
        default: throw RolloutError("unknown traffic routing type \"\(kind)\" in \"\(text)\"")
        }
        let configuration = DeploymentConfiguration(name: trimmed, routing: routing)
        try configuration.validate()
        return configuration
    }

    /// CodeDeploy's limits: 1–99 % per increment, whole minutes ≥ 1, at most 2880 minutes first to last shift.
    public func validate() throws(RolloutError) {
        switch routing {
        case .allAtOnce: return
        case .canary(let percentage, let minutes), .linear(let percentage, let minutes):
            guard (1...Self.maximumIncrement).contains(percentage) else {
                throw RolloutError("\(name): the percentage must be 1–\(Self.maximumIncrement), got \(percentage)")
            }
            guard minutes >= 1 else { throw RolloutError("\(name): the interval must be at least 1 minute") }
        }
        let last = plan().last?.atMinutes ?? 0
        guard last <= Self.maximumMinutes else {
            throw RolloutError(
                "\(name): \(last) minutes from the first to the last shift; CodeDeploy allows \(Self.maximumMinutes)")
        }
    }

    /// The shifts, in order, the last one at 100 %. Canary: two shifts. Linear: ⌈100 / p⌉ equal increments
    /// (the last one smaller when p does not divide 100) with the interval *between* them, so 10 increments have
    /// 9 waits; `linearFinalWait` adds one more interval before the last shift (SAM's "100 minutes" reading of
    /// `Linear10PercentEvery10Minutes`; rollouts.md §1.2 leaves it open).
    public func plan(linearFinalWait: Bool = false) -> [Shift] {
        switch routing {
        case .allAtOnce:
            return [Shift(atMinutes: 0, percent: 100)]
        case .canary(let percentage, let minutes):
            return [Shift(atMinutes: 0, percent: percentage), Shift(atMinutes: minutes, percent: 100)]
        case .linear(let percentage, let minutes):
            let count = (100 + percentage - 1) / percentage
            return (0..<count).map { index in
                let last = index == count - 1
                return Shift(
                    atMinutes: index * minutes + (last && linearFinalWait ? minutes : 0),
                    percent: last ? 100 : (index + 1) * percentage)
            }
        }
    }
}

/// What is wrong with a rollout request or a configuration, as the CLI and the admin API say it.
public struct RolloutError: Error, Sendable, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
