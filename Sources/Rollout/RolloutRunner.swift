import Foundation
public import InvocationModel
import LambdaModel
public import Logging
import NIOConcurrencyHelpers
import NIOCore
public import NIOPosix
public import Registry

/// Executes rollouts in the server: drives each ``RolloutMachine`` with the clock, alarm evaluations from the
/// event stream and hook results; moves the alias through the registry's alias write (`updateAlias`, the one the
/// CLI and the control API use) and tells the catalog at once; invokes hook functions through the invoker with
/// CodeDeploy's hook event; persists every rollout in `<data>/rollouts/<id>.json` after each step.
///
/// One rollout per function + alias may be in progress (CodeDeploy's "conflicting deployment"). A rollout found
/// unfinished when the server starts is rolled back (``recover()``); one in progress at a graceful shutdown is
/// stopped and rolled back (``shutdown()``), so the alias is never left half-way without the record saying so.
///
/// It is also the event-bus subscriber that collects the invocations of the functions being rolled out.
public final class RolloutRunner: InvocationEventSubscriber, Sendable {
    /// How the runner reaches the rest of the server.
    public struct Dependencies: Sendable {
        public var registry: Registry
        public var threadPool: NIOThreadPool
        /// Invokes through the invoker (the hooks).
        public var invoke: @Sendable (InvokeRequest) async throws -> InvocationOutcome
        /// Makes the invoker serve what the store holds now (the alias just written); blocking, run on the pool.
        public var catalogChanged: @Sendable () -> Void
        public var logger: Logger

        public init(
            registry: Registry, threadPool: NIOThreadPool,
            invoke: @escaping @Sendable (InvokeRequest) async throws -> InvocationOutcome,
            catalogChanged: @escaping @Sendable () -> Void, logger: Logger
        ) {
            self.registry = registry
            self.threadPool = threadPool
            self.invoke = invoke
            self.catalogChanged = catalogChanged
            self.logger = logger
        }
    }

    private struct Live {
        var record: RolloutRecord
        var window: InvocationWindow
        /// Monotonic seconds when the current step began, for its live counts.
        var stepStartedAt: Double
        /// Monotonic seconds of the last timeline point.
        var sampledAt: Double
        var stopRequest: String?
        var hookResults: [(RolloutMachine.HookEvent, Bool, String?)] = []
        /// Hook events whose function reported through PutLifecycleEventHookExecutionStatus: its invoke's result
        /// no longer counts.
        var reportedHooks: Set<RolloutMachine.HookEvent> = []
        var task: Task<Void, Never>?
    }

    private struct State {
        var live: [String: Live] = [:]
        var finished: [String: RolloutRecord] = [:]
        var shuttingDown = false
        /// `function:alias:version` an automatic deployment was started for (or refused), so each is tried once.
        var autoAttempted: Set<String> = []
    }

    private let dependencies: Dependencies
    private let directory: String
    private let state = NIOLockedValueBox(State())

    public var interests: InvocationEvent.Kinds { [.invokeFinished, .throttled] }

    /// - Parameter dataDirectory: the server's; rollouts are kept in its `rollouts` directory.
    public init(dataDirectory: String, dependencies: Dependencies) {
        self.directory = "\(dataDirectory)/rollouts"
        self.dependencies = dependencies
    }

    // MARK: Event stream

    public func receive(_ events: [InvocationEvent]) {
        state.withLockedValue { state in
            guard !state.live.isEmpty else { return }
            let ids = Array(state.live.keys)
            for event in events {
                let sample: (String, InvocationWindow.Sample)
                let at = Self.seconds(event.at)
                switch event.detail {
                case .invokeFinished(let finished):
                    sample = (
                        finished.environment.functionName,
                        .init(
                            at: at, version: finished.version, durationMs: finished.durationMs,
                            error: finished.status != nil)
                    )
                case .placed(let placed):
                    guard case .throttled = placed.placement else { continue }
                    sample = (placed.function, .init(at: at, version: placed.version, throttled: true))
                default:
                    continue
                }
                for id in ids where state.live[id]?.record.machine.spec.function == sample.0 {
                    state.live[id]?.window.record(sample.1)
                }
            }
        }
    }

    private static func seconds(_ deadline: NIODeadline) -> Double { Double(deadline.uptimeNanoseconds) / 1e9 }
    private static var monotonic: Double { seconds(.now()) }
    private static var wallClock: Double { Date().timeIntervalSince1970 }

    // MARK: Requests

    /// Starts a rollout; returns its record as it stands once started (the first shift or hook under way).
    public func start(_ request: RolloutRequest) async throws(RolloutError) -> RolloutRecord {
        let configuration = try DeploymentConfiguration.parse(request.config)
        let alarms = try (request.alarms ?? []).map { (text) throws(RolloutError) in try AlarmRule.parse(text) }
        guard alarms.count <= 10 else { throw RolloutError("at most 10 alarms (CodeDeploy's limit)") }
        let timeScale = request.timeScale ?? 1
        guard timeScale > 0, timeScale <= 100_000 else { throw RolloutError("the time scale must be in (0, 100000]") }
        if let hookTimeout = request.hookTimeoutSeconds, !(hookTimeout > 0 && hookTimeout <= 3600) {
            throw RolloutError("the hook timeout must be in (0, 3600] seconds (CodeDeploy's limit is an hour)")
        }
        guard Int(request.to).map({ $0 >= 1 }) == true else {
            throw RolloutError("--to must be a published version number, got \"\(request.to)\"")
        }
        let registry = dependencies.registry
        let (function, aliasName, target) = (request.function, request.alias, request.to)
        let alias: AliasRecord
        do {
            alias = try await dependencies.threadPool.runIfActive { () throws -> AliasRecord in
                _ = try registry.version(functionName: function, version: target)
                return try registry.alias(functionName: function, name: aliasName)
            }
        } catch {
            throw RolloutError("\(error)")
        }
        guard alias.routing.additionalVersion == nil else {
            throw RolloutError(
                "INVALID_LAMBDA_CONFIGURATION: alias \(function):\(aliasName) already splits traffic between "
                    + "\(alias.routing.primaryVersion) and \(alias.routing.additionalVersion!); point it at one "
                    + "version first")
        }
        guard Int(alias.routing.primaryVersion) != nil else {
            throw RolloutError(
                "INVALID_LAMBDA_CONFIGURATION: alias \(function):\(aliasName) points at \(alias.routing.primaryVersion); "
                    + "traffic can only shift between published versions")
        }
        guard alias.routing.primaryVersion != target else {
            throw RolloutError("alias \(function):\(aliasName) already points at version \(target)")
        }
        let spec = RolloutSpec(
            id: RolloutSpec.newID(), function: function, alias: aliasName,
            currentVersion: alias.routing.primaryVersion, targetVersion: target, configuration: configuration,
            timeScale: timeScale, alarms: alarms, preTrafficHook: request.preHook, postTrafficHook: request.postHook,
            linearFinalWait: request.linearFinalWait ?? false, hookTimeoutSeconds: request.hookTimeoutSeconds)
        var record = RolloutRecord(
            machine: RolloutMachine(spec: spec, now: Self.wallClock),
            original: AliasSnapshot(routing: alias.routing, description: alias.description))
        record.creator = request.creator
        let longest = max(alarms.map { $0.periodSeconds / timeScale }.max() ?? 0, 60)
        let retention = max(2 * longest, spec.intervalSeconds + 60)
        let refusal = state.withLockedValue { state -> String? in
            guard !state.shuttingDown else { return "the server is shutting down" }
            if let other = state.live.values.first(where: {
                $0.record.machine.spec.function == function && $0.record.machine.spec.alias == aliasName
            }) {
                return "conflicting deployment: \(other.record.id) is in progress for \(function):\(aliasName)"
            }
            state.live[spec.id] = Live(
                record: record, window: InvocationWindow(retentionSeconds: retention), stepStartedAt: Self.monotonic,
                sampledAt: Self.monotonic)
            return nil
        }
        if let refusal { throw RolloutError(refusal) }
        await persist(record)
        dependencies.logger.info(
            "rollout \(spec.id): \(function):\(aliasName) \(spec.currentVersion) → \(target) with \(configuration.name)"
        )
        let task = Task { await self.drive(spec.id) }
        state.withLockedValue { $0.live[spec.id]?.task = task }
        return record
    }

    /// One pass of SAM's `AutoPublishAlias` + `DeploymentPreference`: for each alias with a preference, when the
    /// function's newest published version is newer than the one the alias points at, and no rollout of the alias
    /// is in progress, starts one to it. Each version is deployed to an alias at most once (a failed or rolled back
    /// one is not retried; publishing a newer version deploys that). An alias that already splits traffic is left
    /// alone. Returns the rollouts started.
    @discardableResult
    public func deployNewVersions(_ preferences: [AutoDeployment]) async -> [String] {
        var started: [String] = []
        for preference in preferences {
            let registry = dependencies.registry
            let found = try? await dependencies.threadPool.runIfActive { () throws -> (Int, AliasRecord) in
                let newest = try registry.versions(functionName: preference.function).compactMap(\.number).max() ?? 0
                return (newest, try registry.alias(functionName: preference.function, name: preference.alias))
            }
            guard let found, let current = Int(found.1.routing.primaryVersion),
                found.1.routing.additionalVersion == nil, found.0 > current
            else { continue }
            let newest = found.0
            let key = "\(preference.function):\(preference.alias):\(newest)"
            let due = state.withLockedValue { state -> Bool in
                guard !state.shuttingDown, !state.autoAttempted.contains(key) else { return false }
                let busy = state.live.values.contains {
                    $0.record.machine.spec.function == preference.function
                        && $0.record.machine.spec.alias == preference.alias
                }
                let tried = (state.live.values.map(\.record) + state.finished.values).contains {
                    $0.machine.spec.function == preference.function && $0.machine.spec.alias == preference.alias
                        && $0.machine.spec.targetVersion == String(newest)
                }
                if tried { state.autoAttempted.insert(key) }
                return !busy && !tried
            }
            guard due else { continue }
            state.withLockedValue { _ = $0.autoAttempted.insert(key) }
            var request = preference.request
            request.function = preference.function
            request.alias = preference.alias
            request.to = String(newest)
            request.creator = "DeploymentPreference"
            do {
                let record = try await start(request)
                started.append(record.id)
                dependencies.logger.info(
                    "rollout \(record.id) started by the deploymentPreference of \(preference.function):\(preference.alias): version \(newest) was published"
                )
            } catch {
                dependencies.logger.error(
                    "cannot deploy version \(newest) of \(preference.function) to alias \(preference.alias) (deploymentPreference): \(error)"
                )
            }
        }
        return started
    }

    /// CodeDeploy's `PutLifecycleEventHookExecutionStatus`: the hook function of a lifecycle event in progress
    /// reports `Succeeded` or `Failed` with the ids its event carried. The report decides the event (its invoke's
    /// result is then ignored, as on AWS). Errors are CodeDeploy's exception names with a message.
    public func reportHookStatus(
        deploymentId: String?, executionId: String?, status: String?
    ) -> Result<String, HookStatusError> {
        guard let deploymentId, !deploymentId.isEmpty else {
            return .failure(HookStatusError("DeploymentIdRequiredException", "Deployment ID is required"))
        }
        guard deploymentId.hasPrefix("d-"), deploymentId.count == 11 else {
            return .failure(
                HookStatusError("InvalidDeploymentIdException", "Specified DeploymentId is not in the valid format"))
        }
        guard let executionId, !executionId.isEmpty else {
            return .failure(
                HookStatusError(
                    "InvalidLifecycleEventHookExecutionIdException", "LifecycleEventHookExecutionId is required"))
        }
        guard let status, ["Succeeded", "Failed"].contains(status) else {
            return .failure(
                HookStatusError(
                    "InvalidLifecycleEventHookExecutionStatusException",
                    "The status \(status ?? "(none)") is not valid; only Succeeded and Failed may be reported"))
        }
        return state.withLockedValue { state -> Result<String, HookStatusError> in
            guard var live = state.live[deploymentId] else {
                guard let finished = state.finished[deploymentId] else {
                    return .failure(
                        HookStatusError(
                            "DeploymentDoesNotExistException", "The deployment \(deploymentId) could not be found"))
                }
                return finished.hookExecutionIds.values.contains(executionId)
                    ? .failure(
                        HookStatusError(
                            "LifecycleEventAlreadyCompletedException",
                            "The deployment \(deploymentId) has ended (\(finished.machine.status.rawValue))"))
                    : .failure(
                        HookStatusError(
                            "InvalidLifecycleEventHookExecutionIdException",
                            "No lifecycle event hook execution \(executionId) in deployment \(deploymentId)"))
            }
            guard let (name, _) = live.record.hookExecutionIds.first(where: { $0.value == executionId }),
                let event = RolloutMachine.HookEvent(rawValue: name)
            else {
                return .failure(
                    HookStatusError(
                        "InvalidLifecycleEventHookExecutionIdException",
                        "No lifecycle event hook execution \(executionId) in deployment \(deploymentId)"))
            }
            guard live.record.machine.hooks[name] == .inProgress, !live.reportedHooks.contains(event) else {
                return .failure(
                    HookStatusError(
                        "LifecycleEventAlreadyCompletedException",
                        "The lifecycle event \(name) of \(deploymentId) has already completed"))
            }
            live.reportedHooks.insert(event)
            live.hookResults.append(
                (
                    event, status == "Succeeded",
                    "reported \(status) through PutLifecycleEventHookExecutionStatus"
                ))
            state.live[deploymentId] = live
            return .success(executionId)
        }
    }

    /// Asks the rollout to stop and roll back (`StopDeployment`); false when there is no such rollout in progress.
    public func stop(_ id: String, reason: String = "stopped on request") -> Bool {
        state.withLockedValue { state in
            guard state.live[id] != nil else { return false }
            state.live[id]?.stopRequest = reason
            return true
        }
    }

    /// A rollout with the live counts of its current step; nil when unknown.
    public func record(_ id: String) -> RolloutRecord? {
        state.withLockedValue { state in
            if let live = state.live[id] { return Self.withLiveStep(live) }
            return state.finished[id]
        }
    }

    /// Every rollout this server knows (in progress, and finished ones it ran or found on disk), oldest first.
    public func records() -> [RolloutRecord] {
        state.withLockedValue { state in
            (state.live.values.map(Self.withLiveStep) + state.finished.values)
                .sorted { $0.machine.createdAt < $1.machine.createdAt }
        }
    }

    private static func withLiveStep(_ live: Live) -> RolloutRecord {
        var record = live.record
        guard !record.steps.isEmpty, record.steps[record.steps.count - 1].endedAt == nil else { return record }
        let spec = record.machine.spec
        record.steps[record.steps.count - 1].versions = [
            spec.currentVersion: live.window.stats(version: spec.currentVersion, since: live.stepStartedAt),
            spec.targetVersion: live.window.stats(version: spec.targetVersion, since: live.stepStartedAt),
        ]
        return record
    }

    // MARK: Lifecycle

    /// Loads the rollouts on disk; rolls back every unfinished one (the server stopped during it) and says so.
    public func recover() async {
        let directory = self.directory
        let loaded: [RolloutRecord] =
            (try? await dependencies.threadPool.runIfActive { () -> [RolloutRecord] in
                let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
                return names.filter { $0.hasSuffix(".json") }.sorted().compactMap { name in
                    FileManager.default.contents(atPath: "\(directory)/\(name)").flatMap {
                        try? JSONDecoder().decode(RolloutRecord.self, from: $0)
                    }
                }
            }) ?? []
        for var record in loaded {
            if !record.ended {
                if !record.machine.isFinished { _ = record.machine.restarted(now: Self.wallClock) }
                // Also a rollout that had failed but whose alias was not yet restored when the server stopped.
                if record.machine.status != .succeeded && !record.machine.rolledBack {
                    let error = await restore(record)
                    record.machine.rolledBack(now: Self.wallClock, error: error)
                }
                record.ended = true
                dependencies.logger.warning(
                    "rollout \(record.id) of \(record.machine.spec.function):\(record.machine.spec.alias) was unfinished when the server stopped: \(record.rollbackSummary)"
                )
                await persist(record)
            }
            state.withLockedValue { $0.finished[record.id] = record }
        }
    }

    /// Stops every rollout in progress (rolling each back) and waits for them to end.
    public func shutdown() async {
        let tasks = state.withLockedValue { state -> [Task<Void, Never>] in
            state.shuttingDown = true
            for id in state.live.keys { state.live[id]?.stopRequest = "the server shut down during the rollout" }
            return state.live.values.compactMap(\.task)
        }
        for task in tasks { await task.value }
    }

    // MARK: Driving one rollout

    private func drive(_ id: String) async {
        let spec = state.withLockedValue { $0.live[id]!.record.machine.spec }
        let poll = min(1.0, max(0.05, 10 / spec.timeScale))
        let planned = (spec.schedule.last?.at ?? 0) + spec.intervalSeconds
        let sampling = min(10, max(0.25, planned / 120))
        var pending = update(id) { record, live in
            record.machine.start(now: Self.wallClock, evaluations: self.evaluations(live))
        }
        var wakeAt = Self.wallClock
        while true {
            var finished = false
            // Persisted after anything but a wait: every shift, hook start or result, rollback and the end.
            var changed = false
            while !pending.isEmpty {
                let action = pending.removeFirst()
                if case .waitUntil = action {} else { changed = true }
                switch action {
                case .setWeight(let percent):
                    if let error = await setWeight(spec, percent: percent, original: original(id)) {
                        pending = update(id) { record, _ in
                            record.machine.abort(
                                code: "INTERNAL_ERROR", reason: "the alias could not be updated: \(error)",
                                now: Self.wallClock)
                        }
                    } else {
                        stepBegan(id, percent: percent)
                    }
                case .runHook(let event, let function):
                    runHook(id, event: event, function: function, spec: spec)
                case .waitUntil(let time):
                    wakeAt = time
                case .rollBack:
                    let error = await restore(state.withLockedValue { $0.live[id]!.record })
                    _ = update(id) { record, _ in
                        record.machine.rolledBack(now: Self.wallClock, error: error)
                        return []
                    }
                case .finish:
                    finished = true
                }
            }
            if changed { await persist(state.withLockedValue { $0.live[id]!.record }) }
            if finished { break }
            let untilDue = wakeAt - Self.wallClock
            let pause = untilDue > 0.001 ? min(poll, untilDue) : poll
            try? await Task.sleep(nanoseconds: UInt64(pause * 1e9))
            pending = update(id) { record, live in
                let now = Self.wallClock
                if Self.monotonic - live.sampledAt >= sampling { Self.sample(&record, &live) }
                live.window.prune(now: Self.monotonic)
                if let reason = live.stopRequest { return record.machine.stop(now: now, reason: reason) }
                if !live.hookResults.isEmpty {
                    let (event, succeeded, message) = live.hookResults.removeFirst()
                    return record.machine.hookFinished(event, succeeded: succeeded, message: message, now: now)
                }
                return record.machine.tick(now: now, evaluations: self.evaluations(live))
            }
        }
        let record = state.withLockedValue { state -> RolloutRecord in
            var live = state.live.removeValue(forKey: id)!
            var last = live.record
            Self.sample(&last, &live)
            live.record = last
            var record = Self.withLiveStep(live)
            record.ended = true
            if !record.steps.isEmpty, record.steps[record.steps.count - 1].endedAt == nil {
                record.steps[record.steps.count - 1].endedAt = record.machine.endedAt
            }
            state.finished[id] = record
            return record
        }
        await persist(record)
        dependencies.logger.info(
            "rollout \(id): \(record.machine.status.rawValue)\(record.machine.reason.map { " (\($0))" } ?? "")")
    }

    /// Runs `body` on the live rollout under the lock; evaluations that changed a state are kept in the record.
    private func update(
        _ id: String, _ body: (inout RolloutRecord, inout Live) -> [RolloutMachine.Action]
    ) -> [RolloutMachine.Action] {
        state.withLockedValue { state in
            guard var live = state.live[id] else { return [] }
            var record = live.record
            let before = (record.machine.step, record.machine.status)
            let actions = body(&record, &live)
            if (record.machine.step, record.machine.status) != before || actions.contains(.rollBack) {
                record.evaluations += record.machine.lastEvaluations
            }
            live.record = record
            state.live[id] = live
            return actions
        }
    }

    /// Appends a timeline point with the counts since the last one.
    private static func sample(_ record: inout RolloutRecord, _ live: inout Live) {
        let spec = record.machine.spec
        let since = live.sampledAt
        live.sampledAt = monotonic
        record.timeline =
            (record.timeline ?? []) + [
                TimelinePoint(
                    at: wallClock, percent: record.machine.rolledBack ? 0 : record.machine.percent,
                    versions: [
                        spec.currentVersion: live.window.stats(version: spec.currentVersion, since: since),
                        spec.targetVersion: live.window.stats(version: spec.targetVersion, since: since),
                    ],
                    alarms: Dictionary(
                        record.machine.lastEvaluations.map { ($0.alarm, $0.state) },
                        uniquingKeysWith: { _, last in last }))
            ]
    }

    private func evaluations(_ live: Live) -> [AlarmEvaluation] {
        let spec = live.record.machine.spec
        let now = Self.monotonic
        let clock = Self.wallClock
        return spec.alarms.map { rule in
            live.window.evaluate(
                rule, version: rule.watched == .new ? spec.targetVersion : spec.currentVersion, now: now,
                timeScale: spec.timeScale, clock: clock)
        }
    }

    private func original(_ id: String) -> AliasSnapshot {
        state.withLockedValue { $0.live[id]!.record.original }
    }

    private func stepBegan(_ id: String, percent: Int) {
        state.withLockedValue { state in
            guard var live = state.live[id] else { return }
            let spec = live.record.machine.spec
            let now = Self.wallClock
            if !live.record.steps.isEmpty {
                let last = live.record.steps.count - 1
                live.record.steps[last].endedAt = now
                live.record.steps[last].versions = [
                    spec.currentVersion: live.window.stats(version: spec.currentVersion, since: live.stepStartedAt),
                    spec.targetVersion: live.window.stats(version: spec.targetVersion, since: live.stepStartedAt),
                ]
            }
            live.record.steps.append(StepReport(percent: percent, startedAt: now, versions: [:]))
            live.stepStartedAt = Self.monotonic
            state.live[id] = live
        }
    }

    // MARK: Effects

    /// Points the alias at `percent` % of the target version (100: the target alone), keeping its stickiness.
    private func setWeight(_ spec: RolloutSpec, percent: Int, original: AliasSnapshot) async -> String? {
        let stickiness = original.routing.stickiness
        let routing =
            percent >= 100
            ? AliasRouting(primaryVersion: spec.targetVersion, stickiness: stickiness)
            : AliasRouting(
                primaryVersion: spec.currentVersion, additionalVersion: spec.targetVersion,
                additionalWeight: Double(percent) / 100, stickiness: stickiness)
        return await writeAlias(spec, routing: routing, description: nil)
    }

    /// Writes the alias back as it was; nil when done, else why not. An alias that is already as it was (no shift
    /// was made: a failed PreTraffic hook, a stop before traffic) is left alone, as CodeDeploy leaves it: no
    /// `UpdateAlias`, so its `RevisionId` is unchanged.
    private func restore(_ record: RolloutRecord) async -> String? {
        let (registry, spec, original) = (dependencies.registry, record.machine.spec, record.original)
        let unchanged = try? await dependencies.threadPool.runIfActive { () throws -> Bool in
            let alias = try registry.alias(functionName: spec.function, name: spec.alias)
            return alias.routing == original.routing && alias.description == original.description
        }
        if unchanged == true { return nil }
        return await writeAlias(spec, routing: original.routing, description: original.description)
    }

    private func writeAlias(_ spec: RolloutSpec, routing: AliasRouting, description: String?) async -> String? {
        let (registry, catalogChanged) = (dependencies.registry, dependencies.catalogChanged)
        do {
            try await dependencies.threadPool.runIfActive {
                try registry.updateAlias(
                    functionName: spec.function, name: spec.alias, routing: routing, description: description)
                catalogChanged()
            }
            return nil
        } catch {
            dependencies.logger.error(
                "rollout \(spec.id): cannot update alias \(spec.function):\(spec.alias): \(error)")
            return "\(error)"
        }
    }

    /// Invokes the hook function with `{"DeploymentId", "LifecycleEventHookExecutionId"}`. A report through
    /// PutLifecycleEventHookExecutionStatus (``reportHookStatus(deploymentId:executionId:status:)``) decides the
    /// event; a hook that ends without one succeeds unless the invoke fails (function error, timeout, crash) or
    /// returns a JSON object whose `status` is `Failed`.
    private func runHook(_ id: String, event: RolloutMachine.HookEvent, function: String, spec: RolloutSpec) {
        let executionID = UUID().uuidString.lowercased()
        state.withLockedValue { $0.live[id]?.record.hookExecutionIds[event.rawValue] = executionID }
        let payload = #"{"DeploymentId":"\#(spec.id)","LifecycleEventHookExecutionId":"\#(executionID)"}"#
        let invoke = dependencies.invoke
        Task {
            let result: (Bool, String?)
            do {
                let outcome = try await invoke(
                    InvokeRequest(functionName: function, payload: ByteBuffer(string: payload)))
                let text = String(buffer: outcome.payload)
                if let errorType = outcome.functionError.map({ _ in outcome.errorType ?? "Unhandled" }) {
                    result = (false, "the function failed (\(errorType)): \(text.prefix(200))")
                } else if let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                    let status = (object["status"] ?? object["Status"]) as? String,
                    status.lowercased() == "failed"
                {
                    result = (false, "it returned status Failed")
                } else {
                    result = (true, nil)
                }
            } catch {
                result = (false, "cannot invoke \(function): \(error)")
            }
            self.state.withLockedValue { state in
                // A hook that reported through PutLifecycleEventHookExecutionStatus was judged by that report.
                guard let live = state.live[id], !live.reportedHooks.contains(event) else { return }
                state.live[id]?.hookResults.append((event, result.0, result.1))
            }
        }
    }

    private func persist(_ record: RolloutRecord) async {
        let (directory, text) = (self.directory, record.json())
        let logger = dependencies.logger
        _ = try? await dependencies.threadPool.runIfActive {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                try Data(text.utf8).write(to: URL(fileURLWithPath: "\(directory)/\(record.id).json"), options: .atomic)
            } catch {
                logger.error("cannot write rollout \(record.id) to \(directory): \(error)")
            }
        }
    }
}

/// A refused PutLifecycleEventHookExecutionStatus: CodeDeploy's exception name (`__type`) and message.
public struct HookStatusError: Error, Sendable, Hashable {
    public var type: String
    public var message: String

    public init(_ type: String, _ message: String) {
        self.type = type
        self.message = message
    }
}

/// An alias whose new versions are rolled out as soon as they are published (SAM's `DeploymentPreference`, from
/// the YAML): ``RolloutRunner/deployNewVersions(_:)`` fills in the versions.
public struct AutoDeployment: Sendable, Hashable {
    public var function: String
    public var alias: String
    /// The configuration, alarms, hooks and time scale; its function, alias and target are set per deployment.
    public var request: RolloutRequest

    public init(function: String, alias: String, request: RolloutRequest) {
        self.function = function
        self.alias = alias
        self.request = request
    }
}

extension RolloutRecord {
    /// One line on what happened to the alias: the outcome, the reason and whether it was restored.
    public var rollbackSummary: String {
        let machine = self.machine
        var text = machine.status.rawValue
        if let code = machine.errorCode { text += " \(code)" }
        if let reason = machine.reason { text += ": \(reason)" }
        if machine.rolledBack {
            text += "; alias restored to version \(original.primaryVersion)"
        } else if let error = machine.rollbackError {
            text += "; THE ALIAS COULD NOT BE RESTORED (\(error))"
        }
        return text
    }
}
