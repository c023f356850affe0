import Foundation
public import LambdaModel

/// The alias as it was before a rollout moved it: what a rollback writes back, member for member.
public struct AliasSnapshot: Sendable, Hashable, Codable {
    public var primaryVersion: String
    public var additionalVersion: String?
    public var additionalWeight: Double
    public var stickiness: String?
    public var description: String

    public init(routing: AliasRouting, description: String) {
        primaryVersion = routing.primaryVersion
        additionalVersion = routing.additionalVersion
        additionalWeight = routing.additionalWeight
        stickiness = routing.stickiness?.description
        self.description = description
    }

    public var routing: AliasRouting {
        AliasRouting(
            primaryVersion: primaryVersion, additionalVersion: additionalVersion, additionalWeight: additionalWeight,
            stickiness: stickiness.flatMap(Stickiness.init))
    }
}

/// What one step of the traffic phase saw: the target version's share and each version's requests.
public struct StepReport: Sendable, Hashable, Codable {
    public var percent: Int
    public var startedAt: Double
    public var endedAt: Double?
    /// By version: the current and the target one.
    public var versions: [String: InvocationWindow.Stats]

    public init(percent: Int, startedAt: Double, endedAt: Double? = nil, versions: [String: InvocationWindow.Stats]) {
        self.percent = percent
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.versions = versions
    }
}

/// One point of a rollout's ``RolloutRecord/timeline``: the wall-clock time, the target version's share of the
/// alias then, each version's requests, errors, throttles and p99 since the previous point, and the alarm states.
public struct TimelinePoint: Sendable, Hashable, Codable {
    public var at: Double
    public var percent: Int
    public var versions: [String: InvocationWindow.Stats]
    /// Each alarm's state at the last evaluation before this point, by the alarm's name.
    public var alarms: [String: AlarmState]?

    public init(
        at: Double, percent: Int, versions: [String: InvocationWindow.Stats], alarms: [String: AlarmState]? = nil
    ) {
        self.at = at
        self.percent = percent
        self.versions = versions
        self.alarms = alarms
    }
}

/// A rollout as it is persisted (`<data>/rollouts/<id>.json`, rewritten after every step) and served by the admin
/// listener (`GET /rollouts/<id>`): the machine with its history, the alias it started from, the hook executions,
/// each step's counts and the live counts of the step in progress.
public struct RolloutRecord: Sendable, Codable {
    public var machine: RolloutMachine
    public var original: AliasSnapshot
    /// `LifecycleEventHookExecutionId` by lifecycle event, for the hooks that were invoked.
    public var hookExecutionIds: [String: String] = [:]
    public var steps: [StepReport] = []
    /// Every alarm evaluation at a step boundary or a state change (not every poll).
    public var evaluations: [AlarmEvaluation] = []
    /// Set once the runner is done with the rollout: the machine finished *and* its rollback (if any) was written.
    /// Followers wait for this, not for the machine's status, which is final before the alias is restored.
    public var ended = false
    /// Per-version counts over time, for the report's charts: one point per sampling interval (a quarter second
    /// up to ten seconds, so that a rollout has some hundred points), each with the counts since the point before.
    /// Nil in records written before it existed.
    public var timeline: [TimelinePoint]?
    /// Who started it, as CodeDeploy's `creator`: nil or `user` (the CLI, `POST /rollouts`), or
    /// `DeploymentPreference` (a version was published for an alias with one).
    public var creator: String?

    public init(machine: RolloutMachine, original: AliasSnapshot) {
        self.machine = machine
        self.original = original
    }

    public var id: String { machine.spec.id }

    public func json(pretty: Bool = true) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}

/// What `POST /rollouts` takes (JSON): the CLI's options.
public struct RolloutRequest: Sendable, Codable, Hashable {
    public var function: String
    public var alias: String
    public var to: String
    public var config: String
    public var timeScale: Double?
    public var alarms: [String]?
    public var preHook: String?
    public var postHook: String?
    public var linearFinalWait: Bool?
    /// The hook deadline in real seconds (nil: CodeDeploy's hour); see ``RolloutSpec/hookTimeoutSeconds``.
    public var hookTimeoutSeconds: Double?
    /// Recorded as the rollout's ``RolloutRecord/creator``.
    public var creator: String?

    public init(
        function: String, alias: String, to: String, config: String, timeScale: Double? = nil,
        alarms: [String]? = nil, preHook: String? = nil, postHook: String? = nil, linearFinalWait: Bool? = nil,
        hookTimeoutSeconds: Double? = nil
    ) {
        self.function = function
        self.alias = alias
        self.to = to
        self.config = config
        self.timeScale = timeScale
        self.alarms = alarms
        self.preHook = preHook
        self.postHook = postHook
        self.linearFinalWait = linearFinalWait
        self.hookTimeoutSeconds = hookTimeoutSeconds
    }
}
