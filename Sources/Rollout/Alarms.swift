import Foundation

/// An alarm of a rollout: one metric of one version's invocations over a sliding window, compared with a
/// threshold. Albatross evaluates it itself from the event stream (there is no CloudWatch), like the per-version
/// alarms AWS's SAM example puts on `ExecutedVersion` (rollouts.md §1.6).
///
/// Text form (CLI, admin API): `[old:]METRIC>THRESHOLD[/PERIOD][/minN]`, e.g. `errors>1%/1m/min20`,
/// `throttles>0/30s`, `p99>500ms/1m/min50`. PERIOD is in configured time (`s`, `m`; scaled by the rollout's time
/// scale like every other duration); N is the least number of requests (invocations and throttles) of the
/// version in the window for the alarm to judge at all. `old:` watches the version the alias is moving away from.
public struct AlarmRule: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Metric: String, Sendable, Hashable, Codable {
        /// Errors (function errors, timeouts, crashes) per invocation, in percent.
        case errors
        /// Throttled requests, a count.
        case throttles
        /// The 99th percentile of Duration, in milliseconds.
        case p99
    }

    /// Which version's invocations the alarm watches.
    public enum Watched: String, Sendable, Hashable, Codable {
        case new
        case old
    }

    public var metric: Metric
    public var threshold: Double
    /// Window length in configured seconds.
    public var periodSeconds: Double
    public var minimumRequests: Int
    public var watched: Watched
    /// The text the rule was given as (its name in reports).
    public var name: String

    public init(
        metric: Metric, threshold: Double, periodSeconds: Double = 60, minimumRequests: Int = 1,
        watched: Watched = .new, name: String? = nil
    ) {
        self.metric = metric
        self.threshold = threshold
        self.periodSeconds = periodSeconds
        self.minimumRequests = minimumRequests
        self.watched = watched
        self.name = name ?? ""
        if self.name.isEmpty { self.name = canonical }
    }

    public var description: String { name }

    private var canonical: String {
        let value = threshold == threshold.rounded() ? String(Int(threshold)) : String(threshold)
        let unit = metric == .errors ? "%" : metric == .p99 ? "ms" : ""
        return (watched == .old ? "old:" : "")
            + "\(metric.rawValue)>\(value)\(unit)/\(Int(periodSeconds))s/min\(minimumRequests)"
    }

    /// Parses the text form; defaults: period 1 minute, minimum 1 request.
    public static func parse(_ text: String) throws(RolloutError) -> AlarmRule {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        var watched = Watched.new
        if rest.hasPrefix("old:") {
            watched = .old
            rest = rest.dropFirst(4)
        } else if rest.hasPrefix("new:") {
            rest = rest.dropFirst(4)
        }
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard let head = parts.first, let gt = head.firstIndex(of: ">") else {
            throw RolloutError("alarm \"\(text)\": expected METRIC>THRESHOLD[/PERIOD][/minN], e.g. errors>1%/1m/min20")
        }
        guard let metric = Metric(rawValue: String(head[..<gt]).lowercased()) else {
            throw RolloutError("alarm \"\(text)\": the metric is errors, throttles or p99")
        }
        var number = String(head[head.index(after: gt)...])
        for unit in ["%", "ms"] where number.hasSuffix(unit) { number.removeLast(unit.count) }
        guard let threshold = Double(number), threshold >= 0 else {
            throw RolloutError("alarm \"\(text)\": the threshold is a number ≥ 0")
        }
        var period = 60.0
        var minimum = 1
        for part in parts.dropFirst() {
            if part.hasPrefix("min"), let value = Int(part.dropFirst(3)), value >= 1 {
                minimum = value
            } else if let seconds = Self.seconds(part), seconds > 0 {
                period = seconds
            } else {
                throw RolloutError("alarm \"\(text)\": \"\(part)\" is neither a period (30s, 1m) nor minN")
            }
        }
        return AlarmRule(
            metric: metric, threshold: threshold, periodSeconds: period, minimumRequests: minimum, watched: watched,
            name: text)
    }

    private static func seconds(_ text: String) -> Double? {
        if text.hasSuffix("ms") { return Double(text.dropLast(2)).map { $0 / 1000 } }
        if text.hasSuffix("s") { return Double(text.dropLast()) }
        if text.hasSuffix("m") { return Double(text.dropLast()).map { $0 * 60 } }
        if text.hasSuffix("h") { return Double(text.dropLast()).map { $0 * 3600 } }
        return nil
    }
}

/// CloudWatch's three alarm states.
public enum AlarmState: String, Sendable, Hashable, Codable {
    case ok = "OK"
    case alarm = "ALARM"
    case insufficientData = "INSUFFICIENT_DATA"
}

/// One evaluation of one alarm.
public struct AlarmEvaluation: Sendable, Hashable, Codable {
    public var alarm: String
    public var state: AlarmState
    /// The metric's value in the window (nil without enough data).
    public var value: Double?
    /// Requests of the watched version in the window.
    public var requests: Int
    /// When (rollout clock seconds).
    public var at: Double

    public init(alarm: String, state: AlarmState, value: Double?, requests: Int, at: Double) {
        self.alarm = alarm
        self.state = state
        self.value = value
        self.requests = requests
        self.at = at
    }
}

/// The invocations of one function's versions, as the event stream reported them, kept for as long as a
/// rollout's alarms and progress need them. Pure: times are seconds of any monotonic clock.
public struct InvocationWindow: Sendable {
    public struct Sample: Sendable, Hashable {
        public var at: Double
        public var version: String
        public var durationMs: Double
        public var error: Bool
        public var throttled: Bool

        public init(at: Double, version: String, durationMs: Double = 0, error: Bool = false, throttled: Bool = false) {
            self.at = at
            self.version = version
            self.durationMs = durationMs
            self.error = error
            self.throttled = throttled
        }
    }

    /// Counts of one version over some span.
    public struct Stats: Sendable, Hashable, Codable {
        public var requests = 0
        public var invocations = 0
        public var errors = 0
        public var throttles = 0
        /// Nil without invocations.
        public var p99Ms: Double?

        public init() {}

        public var errorPercent: Double? { invocations == 0 ? nil : Double(errors) * 100 / Double(invocations) }
    }

    public private(set) var samples: [Sample] = []
    /// Samples older than this many seconds are dropped; at most ``capacity`` are kept.
    public var retentionSeconds: Double
    public var capacity: Int

    public init(retentionSeconds: Double, capacity: Int = 200_000) {
        self.retentionSeconds = retentionSeconds
        self.capacity = capacity
    }

    public mutating func record(_ sample: Sample) {
        samples.append(sample)
        // Past the bound, the oldest tenth goes at once (amortised, not one element per sample).
        if samples.count > capacity { samples.removeFirst(samples.count - capacity + capacity / 10) }
    }

    public mutating func prune(now: Double) {
        let oldest = now - retentionSeconds
        if let first = samples.firstIndex(where: { $0.at >= oldest }) {
            if first > 0 { samples.removeFirst(first) }
        } else {
            samples.removeAll()
        }
    }

    /// Counts for `version` of the samples at or after `since`.
    public func stats(version: String, since: Double) -> Stats {
        var stats = Stats()
        var durations: [Double] = []
        for sample in samples where sample.version == version && sample.at >= since {
            stats.requests += 1
            if sample.throttled {
                stats.throttles += 1
                continue
            }
            stats.invocations += 1
            if sample.error { stats.errors += 1 }
            durations.append(sample.durationMs)
        }
        if !durations.isEmpty {
            durations.sort()
            // Nearest rank.
            let rank = Int((0.99 * Double(durations.count)).rounded(.up))
            stats.p99Ms = durations[max(0, min(durations.count - 1, rank - 1))]
        }
        return stats
    }

    /// Evaluates `rule` on `version`'s samples of the last `rule.periodSeconds / timeScale` seconds.
    ///
    /// Fewer requests than the rule's minimum is `INSUFFICIENT_DATA`, never `OK`: a quiet canary has not been
    /// shown healthy (see ``RolloutMachine`` for what a rollout does with it).
    public func evaluate(
        _ rule: AlarmRule, version: String, now: Double, timeScale: Double, clock: Double
    ) -> AlarmEvaluation {
        let stats = stats(version: version, since: now - rule.periodSeconds / timeScale)
        guard stats.requests >= rule.minimumRequests else {
            return AlarmEvaluation(
                alarm: rule.name, state: .insufficientData, value: nil, requests: stats.requests, at: clock)
        }
        let value: Double?
        switch rule.metric {
        case .errors: value = stats.errorPercent ?? 0
        case .throttles: value = Double(stats.throttles)
        case .p99: value = stats.p99Ms
        }
        guard let value else {
            return AlarmEvaluation(
                alarm: rule.name, state: .insufficientData, value: nil, requests: stats.requests, at: clock)
        }
        return AlarmEvaluation(
            alarm: rule.name, state: value > rule.threshold ? .alarm : .ok, value: value, requests: stats.requests,
            at: clock)
    }
}
