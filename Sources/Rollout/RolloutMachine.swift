import Foundation

/// What a rollout is asked to do: move `alias` of `function` from `currentVersion` to `targetVersion` under a
/// deployment configuration, watched by alarms, with optional PreTraffic / PostTraffic hook functions (CodeDeploy's
/// AppSpec and deployment group in one, rollouts.md §1.1).
public struct RolloutSpec: Sendable, Hashable, Codable {
    /// `d-` and nine characters, as CodeDeploy's deployment ids.
    public var id: String
    public var function: String
    public var alias: String
    public var currentVersion: String
    public var targetVersion: String
    public var configuration: DeploymentConfiguration
    /// 60: one configured minute lasts one second. Applies to shifts, alarm periods and hold limits.
    public var timeScale: Double
    public var alarms: [AlarmRule]
    public var preTrafficHook: String?
    public var postTrafficHook: String?
    /// One more interval before the last linear shift (see ``DeploymentConfiguration/plan(linearFinalWait:)``).
    public var linearFinalWait: Bool
    /// How long a lifecycle event waits for its hook's verdict, in real seconds; nil: CodeDeploy's hour. The time
    /// scale does not shorten it (a hook runs real tests at real speed); a test sets a short one.
    public var hookTimeoutSeconds: Double?

    /// The hook deadline in effect: ``hookTimeoutSeconds`` or CodeDeploy's 3600 s.
    public var hookDeadlineSeconds: Double { hookTimeoutSeconds ?? 3600 }

    public init(
        id: String, function: String, alias: String, currentVersion: String, targetVersion: String,
        configuration: DeploymentConfiguration, timeScale: Double = 1, alarms: [AlarmRule] = [],
        preTrafficHook: String? = nil, postTrafficHook: String? = nil, linearFinalWait: Bool = false,
        hookTimeoutSeconds: Double? = nil
    ) {
        self.id = id
        self.function = function
        self.alias = alias
        self.currentVersion = currentVersion
        self.targetVersion = targetVersion
        self.configuration = configuration
        self.timeScale = timeScale
        self.alarms = alarms
        self.preTrafficHook = preTrafficHook
        self.postTrafficHook = postTrafficHook
        self.linearFinalWait = linearFinalWait
        self.hookTimeoutSeconds = hookTimeoutSeconds
    }

    /// A new deployment id: `d-` and nine upper-case letters and digits.
    public static func newID() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        return "d-" + String((0..<9).map { _ in alphabet.randomElement()! })
    }

    /// The shifts with their offsets in real seconds from the start of the traffic phase.
    public var schedule: [(at: Double, percent: Int)] {
        configuration.plan(linearFinalWait: linearFinalWait).map { (Double($0.atMinutes) * 60 / timeScale, $0.percent) }
    }

    /// The configured interval in real seconds (0 for all-at-once): how long a shift may wait for alarm data.
    public var intervalSeconds: Double {
        switch configuration.routing {
        case .allAtOnce: return 0
        case .canary(_, let minutes), .linear(_, let minutes): return Double(minutes) * 60 / timeScale
        }
    }
}

/// A rollout's deployment as an explicit state machine: inputs (the time, alarm evaluations, hook results, a stop
/// request, a restart) go in, actions for the runner come out. It does no I/O and reads no clock, so every plan,
/// rollback and timing is tested with numbers (rollouts.md §1.5–§1.8).
///
/// Statuses are CodeDeploy's (`Created`, `InProgress`, `Succeeded`, `Failed`, `Stopped`) with its error codes
/// (`ALARM_ACTIVE`, `HOOK_EXECUTION_FAILURE`, `MANUAL_STOP`) and two of Albatross's own: `INSUFFICIENT_DATA` (a
/// shift waited a whole interval for enough requests to judge an alarm) and `SERVER_RESTART`.
///
/// No data is not "healthy": an alarm in `INSUFFICIENT_DATA` never stops a rollout (as on AWS), but no shift
/// after the first is made while any alarm lacks data; the shift waits, re-evaluating at every tick, for at most one
/// configured interval, then the rollout fails and rolls back. A rollout without alarms is never held.
public struct RolloutMachine: Sendable, Codable {
    public enum Status: String, Sendable, Codable {
        case created = "Created"
        case inProgress = "InProgress"
        case succeeded = "Succeeded"
        case failed = "Failed"
        case stopped = "Stopped"
    }

    /// CodeDeploy's lifecycle events for Lambda.
    public enum Phase: String, Sendable, Codable {
        case start = "Start"
        case beforeAllowTraffic = "BeforeAllowTraffic"
        case allowTraffic = "AllowTraffic"
        case afterAllowTraffic = "AfterAllowTraffic"
        case end = "End"
    }

    public enum HookEvent: String, Sendable, Codable, Hashable {
        case beforeAllowTraffic = "BeforeAllowTraffic"
        case afterAllowTraffic = "AfterAllowTraffic"
    }

    /// `LifecycleEventStatus`.
    public enum HookStatus: String, Sendable, Codable {
        case pending = "Pending"
        case inProgress = "InProgress"
        case succeeded = "Succeeded"
        case failed = "Failed"
        case skipped = "Skipped"
    }

    /// What the runner does next.
    public enum Action: Sendable, Hashable {
        /// Point the alias so that `percent` of its traffic goes to the target version (100: the alias names the
        /// target version alone).
        case setWeight(percent: Int)
        /// Invoke the hook function with the lifecycle event; report with ``RolloutMachine/hookFinished(_:succeeded:message:now:)``.
        case runHook(HookEvent, function: String)
        /// Nothing to do before this time (call ``RolloutMachine/tick(now:evaluations:)`` then, or earlier).
        case waitUntil(Double)
        /// Restore the alias exactly as it was before the rollout; report with ``RolloutMachine/rolledBack(now:error:)``.
        case rollBack
        /// The rollout is over with this status.
        case finish(Status)
    }

    /// One line of the rollout's history (weights over time, hook results, alarms, the outcome).
    public struct Entry: Sendable, Codable, Hashable {
        public var at: Double
        public var event: String
        /// The target version's share after this entry, when it changed.
        public var percent: Int?

        public init(at: Double, event: String, percent: Int? = nil) {
            self.at = at
            self.event = event
            self.percent = percent
        }
    }

    public let spec: RolloutSpec
    public private(set) var status: Status = .created
    public private(set) var phase: Phase = .start
    /// Index of the last shift made (-1: none).
    public private(set) var step = -1
    /// The target version's share of the alias now.
    public private(set) var percent = 0
    public private(set) var createdAt: Double
    public private(set) var trafficStartedAt: Double?
    /// Seconds shifts were held for lack of alarm data, which push every later shift back.
    public private(set) var heldSeconds = 0.0
    public private(set) var holdingSince: Double?
    public private(set) var hooks: [String: HookStatus] = [:]
    /// When each hook was invoked, by lifecycle event, for the hook deadline (nil in records from before it).
    public private(set) var hookStartedAt: [String: Double]?
    public private(set) var errorCode: String?
    public private(set) var reason: String?
    /// Set once the alias was restored (or its restore failed: ``rollbackError``).
    public private(set) var rolledBack = false
    public private(set) var rollbackError: String?
    public private(set) var endedAt: Double?
    public private(set) var lastEvaluations: [AlarmEvaluation] = []
    public private(set) var history: [Entry] = []

    public init(spec: RolloutSpec, now: Double) {
        self.spec = spec
        self.createdAt = now
        hooks[HookEvent.beforeAllowTraffic.rawValue] = spec.preTrafficHook == nil ? .skipped : .pending
        hooks[HookEvent.afterAllowTraffic.rawValue] = spec.postTrafficHook == nil ? .skipped : .pending
        history.append(Entry(at: now, event: "Created", percent: 0))
    }

    public var isFinished: Bool { status != .created && status != .inProgress }

    /// When the next shift is due (nil outside the traffic phase or after the last shift).
    public var nextShiftAt: Double? {
        guard phase == .allowTraffic, let started = trafficStartedAt else { return nil }
        let schedule = spec.schedule
        guard step + 1 < schedule.count else { return nil }
        return started + schedule[step + 1].at + heldSeconds
    }

    // MARK: Inputs

    /// Starts the deployment. `evaluations` are the alarms as they stand now: one already in `ALARM` stops the
    /// rollout before anything happens (rollouts.md §1.6).
    public mutating func start(now: Double, evaluations: [AlarmEvaluation] = []) -> [Action] {
        guard status == .created else { return [] }
        status = .inProgress
        history.append(Entry(at: now, event: "InProgress"))
        if let stopped = stopOnAlarm(evaluations, now: now) { return stopped }
        if let hook = spec.preTrafficHook {
            phase = .beforeAllowTraffic
            hooks[HookEvent.beforeAllowTraffic.rawValue] = .inProgress
            hookStartedAt = (hookStartedAt ?? [:]).merging([HookEvent.beforeAllowTraffic.rawValue: now]) { $1 }
            history.append(Entry(at: now, event: "BeforeAllowTraffic: invoking \(hook)"))
            return [.runHook(.beforeAllowTraffic, function: hook)]
        }
        return beginTraffic(now: now)
    }

    /// The time passed and the alarms were evaluated. A hook that has not given its verdict by the hook deadline
    /// (``RolloutSpec/hookDeadlineSeconds``) fails its lifecycle event, as CodeDeploy fails one that hears nothing
    /// from PutLifecycleEventHookExecutionStatus within an hour.
    public mutating func tick(now: Double, evaluations: [AlarmEvaluation]) -> [Action] {
        guard status == .inProgress else { return [] }
        if !evaluations.isEmpty { lastEvaluations = evaluations }
        if let stopped = stopOnAlarm(evaluations, now: now) { return stopped }
        for event in [HookEvent.beforeAllowTraffic, .afterAllowTraffic] where hooks[event.rawValue] == .inProgress {
            guard let started = hookStartedAt?[event.rawValue], now - started >= spec.hookDeadlineSeconds else {
                continue
            }
            let limit = String(format: "%g", spec.hookDeadlineSeconds)
            return hookFinished(
                event, succeeded: false,
                message: "no verdict within the hook deadline of \(limit) s (PutLifecycleEventHookExecutionStatus)",
                now: now)
        }
        guard phase == .allowTraffic, let due = nextShiftAt else { return [] }
        guard now >= due else { return [.waitUntil(due)] }
        let lacking = evaluations.filter { $0.state == .insufficientData }.map(\.alarm)
        if !spec.alarms.isEmpty && !lacking.isEmpty {
            let since = holdingSince ?? now
            if holdingSince == nil {
                holdingSince = now
                history.append(
                    Entry(
                        at: now, event: "holding the shift: not enough requests for \(lacking.joined(separator: ", "))")
                )
            }
            if now - since >= spec.intervalSeconds {
                return fail(
                    .failed, code: "INSUFFICIENT_DATA",
                    reason:
                        "alarm \(lacking.joined(separator: ", ")) had too few requests to judge for a whole interval; "
                        + "no data is not healthy", now: now)
            }
            return [.waitUntil(now + max(0.05, min(1, spec.intervalSeconds / 10)))]
        }
        if let since = holdingSince {
            heldSeconds += now - since
            holdingSince = nil
        }
        return shift(now: now)
    }

    /// The hook function of `event` ended: `succeeded` unless it failed or reported `Failed`.
    public mutating func hookFinished(
        _ event: HookEvent, succeeded: Bool, message: String? = nil, now: Double
    ) -> [Action] {
        guard status == .inProgress, hooks[event.rawValue] == .inProgress else { return [] }
        hooks[event.rawValue] = succeeded ? .succeeded : .failed
        let detail = message.map { ": \($0)" } ?? ""
        history.append(Entry(at: now, event: "\(event.rawValue) hook \(succeeded ? "Succeeded" : "Failed")\(detail)"))
        guard succeeded else {
            let function = event == .beforeAllowTraffic ? spec.preTrafficHook ?? "" : spec.postTrafficHook ?? ""
            return fail(
                .failed, code: "HOOK_EXECUTION_FAILURE",
                reason: "the \(event.rawValue) hook \(function) failed\(detail)", now: now)
        }
        switch event {
        case .beforeAllowTraffic: return beginTraffic(now: now)
        case .afterAllowTraffic: return succeed(now: now)
        }
    }

    /// `StopDeployment` (with rollback, Albatross's only kind).
    public mutating func stop(now: Double, reason: String = "stopped on request") -> [Action] {
        guard !isFinished else { return [] }
        status = status == .created ? .inProgress : status
        return fail(.stopped, code: "MANUAL_STOP", reason: reason, now: now)
    }

    /// The server starts again and finds this rollout unfinished: it rolls back (the safe choice: the alias may
    /// be half-way, and the alarm windows and hook runs were lost with the process).
    public mutating func restarted(now: Double) -> [Action] {
        guard !isFinished else { return [] }
        status = .inProgress
        return fail(
            .failed, code: "SERVER_RESTART",
            reason:
                "the server stopped during the rollout (\(phase.rawValue), \(percent) % on version \(spec.targetVersion)); rolled back when it started again",
            now: now)
    }

    /// Something the runner could not do (an alias write failed): the rollout fails with `code` and rolls back.
    public mutating func abort(code: String, reason: String, now: Double) -> [Action] {
        guard !isFinished else { return [] }
        status = .inProgress
        return fail(.failed, code: code, reason: reason, now: now)
    }

    /// The runner restored the alias (`error` nil) or could not (`error` says why; the alias is as the last
    /// successful write left it, and the status says so).
    public mutating func rolledBack(now: Double, error: String? = nil) {
        rolledBack = error == nil
        rollbackError = error
        if error == nil {
            percent = 0
            history.append(
                Entry(
                    at: now, event: "rolled back: alias \(spec.alias) restored to version \(spec.currentVersion)",
                    percent: 0))
        } else {
            history.append(Entry(at: now, event: "ROLLBACK FAILED, the alias is left half-way: \(error!)"))
        }
    }

    // MARK: Steps

    private mutating func beginTraffic(now: Double) -> [Action] {
        phase = .allowTraffic
        trafficStartedAt = now
        history.append(Entry(at: now, event: "AllowTraffic"))
        return shift(now: now)
    }

    private mutating func shift(now: Double) -> [Action] {
        let schedule = spec.schedule
        step += 1
        percent = schedule[step].percent
        history.append(Entry(at: now, event: "shift \(step + 1)/\(schedule.count): \(percent) %", percent: percent))
        var actions: [Action] = [.setWeight(percent: percent)]
        if let due = nextShiftAt {
            actions.append(.waitUntil(due))
        } else {
            actions += afterTraffic(now: now)
        }
        return actions
    }

    private mutating func afterTraffic(now: Double) -> [Action] {
        if let hook = spec.postTrafficHook {
            phase = .afterAllowTraffic
            hooks[HookEvent.afterAllowTraffic.rawValue] = .inProgress
            hookStartedAt = (hookStartedAt ?? [:]).merging([HookEvent.afterAllowTraffic.rawValue: now]) { $1 }
            history.append(Entry(at: now, event: "AfterAllowTraffic: invoking \(hook)"))
            return [.runHook(.afterAllowTraffic, function: hook)]
        }
        return succeed(now: now)
    }

    private mutating func succeed(now: Double) -> [Action] {
        phase = .end
        status = .succeeded
        endedAt = now
        history.append(Entry(at: now, event: "Succeeded"))
        return [.finish(.succeeded)]
    }

    private mutating func stopOnAlarm(_ evaluations: [AlarmEvaluation], now: Double) -> [Action]? {
        guard let tripped = evaluations.first(where: { $0.state == .alarm }) else { return nil }
        let value = tripped.value.map { String(format: "%.4g", $0) } ?? "?"
        let watched = spec.alarms.first(where: { $0.name == tripped.alarm })?.watched ?? .new
        let version = watched == .old ? spec.currentVersion : spec.targetVersion
        return fail(
            .stopped, code: "ALARM_ACTIVE",
            reason:
                "alarm \(tripped.alarm) in ALARM: \(value) over \(tripped.requests) requests of version \(version)",
            now: now)
    }

    private mutating func fail(_ status: Status, code: String, reason: String, now: Double) -> [Action] {
        self.status = status
        errorCode = code
        self.reason = reason
        endedAt = now
        for (event, state) in hooks where state == .inProgress { hooks[event] = .failed }
        history.append(Entry(at: now, event: "\(status.rawValue) (\(code)): \(reason)"))
        return [.rollBack, .finish(status)]
    }
}
