import Rollout
import Testing

@Suite struct RolloutMachineTests {
    static func spec(
        _ configuration: String = "LambdaCanary10Percent5Minutes", timeScale: Double = 60, alarms: [String] = [],
        pre: String? = nil, post: String? = nil
    ) throws -> RolloutSpec {
        RolloutSpec(
            id: "d-TEST00001", function: "orders", alias: "live", currentVersion: "6", targetVersion: "7",
            configuration: try DeploymentConfiguration.parse(configuration), timeScale: timeScale,
            alarms: try alarms.map(AlarmRule.parse), preTrafficHook: pre, postTrafficHook: post)
    }

    static func ok(_ name: String, at: Double) -> AlarmEvaluation {
        AlarmEvaluation(alarm: name, state: .ok, value: 0, requests: 50, at: at)
    }

    @Test func aCanaryShiftsTwiceOnTimeAndSucceeds() throws {
        // 5 configured minutes at 60×: the second shift 5 s after the first.
        var machine = RolloutMachine(spec: try Self.spec(), now: 1000)
        #expect(machine.status == .created)
        #expect(machine.start(now: 1000) == [.setWeight(percent: 10), .waitUntil(1005)])
        #expect(machine.status == .inProgress && machine.phase == .allowTraffic && machine.percent == 10)
        #expect(machine.tick(now: 1004.9, evaluations: []) == [.waitUntil(1005)])
        #expect(machine.tick(now: 1005, evaluations: []) == [.setWeight(percent: 100), .finish(.succeeded)])
        #expect(machine.status == .succeeded && machine.phase == .end && machine.errorCode == nil)
        #expect(machine.history.compactMap(\.percent) == [0, 10, 100])
        #expect(machine.tick(now: 2000, evaluations: []) == [], "a finished rollout does nothing more")
    }

    @Test func linearMakesTenShiftsWithNineWaits() throws {
        var machine = RolloutMachine(spec: try Self.spec("LambdaLinear10PercentEvery1Minute", timeScale: 60), now: 0)
        var weights: [Int] = []
        var actions = machine.start(now: 0)
        var now = 0.0
        while !machine.isFinished {
            for case .setWeight(let percent) in actions { weights.append(percent) }
            guard case .waitUntil(let due) = actions.last else { break }
            now = due
            actions = machine.tick(now: now, evaluations: [])
        }
        for case .setWeight(let percent) in actions { weights.append(percent) }
        #expect(weights == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
        #expect(now == 9 && machine.status == .succeeded)
    }

    @Test func allAtOnceStillRunsHooksAndAlarms() throws {
        var machine = RolloutMachine(
            spec: try Self.spec("LambdaAllAtOnce", alarms: ["errors>1%"], pre: "pre", post: "post"), now: 0)
        #expect(
            machine.start(now: 0, evaluations: [Self.ok("errors>1%", at: 0)]) == [
                .runHook(.beforeAllowTraffic, function: "pre")
            ])
        #expect(machine.hooks["BeforeAllowTraffic"] == .inProgress && machine.percent == 0)
        #expect(
            machine.hookFinished(.beforeAllowTraffic, succeeded: true, now: 1) == [
                .setWeight(percent: 100), .runHook(.afterAllowTraffic, function: "post"),
            ])
        #expect(machine.phase == .afterAllowTraffic)
        #expect(machine.hookFinished(.afterAllowTraffic, succeeded: true, now: 2) == [.finish(.succeeded)])
        #expect(machine.hooks == ["BeforeAllowTraffic": .succeeded, "AfterAllowTraffic": .succeeded])
    }

    @Test func aTrippedAlarmStopsAndRollsBack() throws {
        var machine = RolloutMachine(spec: try Self.spec(alarms: ["errors>1%/1m/min5"]), now: 0)
        _ = machine.start(now: 0)
        let tripped = AlarmEvaluation(alarm: "errors>1%/1m/min5", state: .alarm, value: 100, requests: 8, at: 2)
        #expect(machine.tick(now: 2, evaluations: [tripped]) == [.rollBack, .finish(.stopped)])
        #expect(machine.status == .stopped && machine.errorCode == "ALARM_ACTIVE")
        #expect(machine.reason == "alarm errors>1%/1m/min5 in ALARM: 100 over 8 requests of version 7")
        machine.rolledBack(now: 2.1)
        #expect(machine.rolledBack && machine.percent == 0 && machine.history.last?.percent == 0)
    }

    @Test func anAlarmAlreadyFiringStopsTheRolloutBeforeAnything() throws {
        var machine = RolloutMachine(spec: try Self.spec(alarms: ["old:errors>1%"], pre: "pre"), now: 0)
        let firing = AlarmEvaluation(alarm: "old:errors>1%", state: .alarm, value: 50, requests: 10, at: 0)
        #expect(machine.start(now: 0, evaluations: [firing]) == [.rollBack, .finish(.stopped)])
        #expect(machine.reason?.hasSuffix("of version 6") == true, "an old: alarm watches the current version")
        #expect(machine.hooks["BeforeAllowTraffic"] == .pending, "the hook never ran")
    }

    @Test func aFailedPreTrafficHookRollsBackBeforeAnyTrafficMoves() throws {
        var machine = RolloutMachine(spec: try Self.spec(pre: "CodeDeployHook_pre"), now: 0)
        #expect(machine.start(now: 0) == [.runHook(.beforeAllowTraffic, function: "CodeDeployHook_pre")])
        #expect(machine.tick(now: 100, evaluations: []) == [], "no shift while the hook runs")
        let actions = machine.hookFinished(.beforeAllowTraffic, succeeded: false, message: "returned Failed", now: 3)
        #expect(actions == [.rollBack, .finish(.failed)])
        #expect(machine.status == .failed && machine.errorCode == "HOOK_EXECUTION_FAILURE" && machine.percent == 0)
        #expect(machine.reason == "the BeforeAllowTraffic hook CodeDeployHook_pre failed: returned Failed")
        #expect(machine.history.allSatisfy { ($0.percent ?? 0) == 0 })
    }

    @Test func aHookWithoutAVerdictFailsAtTheHookDeadline() throws {
        // CodeDeploy's hour by default, in real seconds whatever the time scale.
        var machine = RolloutMachine(spec: try Self.spec(pre: "pre"), now: 0)
        _ = machine.start(now: 0)
        #expect(machine.tick(now: 3599, evaluations: []) == [])
        #expect(machine.tick(now: 3600, evaluations: []) == [.rollBack, .finish(.failed)])
        #expect(machine.errorCode == "HOOK_EXECUTION_FAILURE" && machine.hooks["BeforeAllowTraffic"] == .failed)
        #expect(machine.reason?.contains("no verdict within the hook deadline of 3600 s") == true, "\(machine.reason!)")
        // A configured one, for the PostTraffic hook too; a verdict after it changes nothing.
        var spec = try Self.spec(post: "post")
        spec.hookTimeoutSeconds = 2
        var short = RolloutMachine(spec: spec, now: 0)
        _ = short.start(now: 0)
        #expect(
            short.tick(now: 5, evaluations: []) == [
                .setWeight(percent: 100), .runHook(.afterAllowTraffic, function: "post"),
            ])
        #expect(short.tick(now: 6.9, evaluations: []) == [])
        #expect(short.tick(now: 7, evaluations: []) == [.rollBack, .finish(.failed)])
        #expect(short.hookFinished(.afterAllowTraffic, succeeded: true, now: 8) == [])
        #expect(short.status == .failed && short.hooks["AfterAllowTraffic"] == .failed)
    }

    @Test func aFailedPostTrafficHookRollsBackFromAllTraffic() throws {
        var machine = RolloutMachine(spec: try Self.spec(post: "post"), now: 0)
        _ = machine.start(now: 0)
        #expect(
            machine.tick(now: 5, evaluations: []) == [
                .setWeight(percent: 100), .runHook(.afterAllowTraffic, function: "post"),
            ])
        #expect(machine.hookFinished(.afterAllowTraffic, succeeded: false, now: 6) == [.rollBack, .finish(.failed)])
    }

    @Test func aStopRequestStopsAndRollsBack() throws {
        var machine = RolloutMachine(spec: try Self.spec(), now: 0)
        _ = machine.start(now: 0)
        #expect(machine.stop(now: 1) == [.rollBack, .finish(.stopped)])
        #expect(machine.status == .stopped && machine.errorCode == "MANUAL_STOP")
        #expect(machine.stop(now: 2) == [], "stopping twice does nothing")
    }

    @Test func noDataHoldsAShiftForOneIntervalThenFails() throws {
        let name = "errors>1%/1m/min20"
        var machine = RolloutMachine(spec: try Self.spec(alarms: [name]), now: 0)
        _ = machine.start(now: 0)
        let quiet = AlarmEvaluation(alarm: name, state: .insufficientData, value: nil, requests: 3, at: 5)
        // Due at 5: held, not shifted, and not stopped either.
        guard case .waitUntil = machine.tick(now: 5, evaluations: [quiet]).first else {
            Issue.record("expected a wait")
            return
        }
        #expect(machine.percent == 10 && machine.status == .inProgress)
        // Data arrives 2 s later: the shift happens then.
        #expect(
            machine.tick(now: 7, evaluations: [Self.ok(name, at: 7)]) == [
                .setWeight(percent: 100), .finish(.succeeded),
            ])

        var starved = RolloutMachine(spec: try Self.spec(alarms: [name]), now: 0)
        _ = starved.start(now: 0)
        _ = starved.tick(now: 5, evaluations: [quiet])
        _ = starved.tick(now: 9.9, evaluations: [quiet])
        #expect(starved.status == .inProgress)
        #expect(starved.tick(now: 10, evaluations: [quiet]) == [.rollBack, .finish(.failed)])
        #expect(starved.errorCode == "INSUFFICIENT_DATA")
    }

    @Test func heldTimePushesLaterShiftsBack() throws {
        let name = "errors>1%"
        var machine = RolloutMachine(spec: try Self.spec("LambdaLinear10PercentEvery1Minute", alarms: [name]), now: 0)
        _ = machine.start(now: 0)
        _ = machine.tick(
            now: 1,
            evaluations: [AlarmEvaluation(alarm: name, state: .insufficientData, value: nil, requests: 0, at: 1)])
        #expect(
            machine.tick(now: 1.5, evaluations: [Self.ok(name, at: 1.5)]) == [.setWeight(percent: 20), .waitUntil(2.5)])
    }

    @Test func aRestartRollsBackAndSaysSo() throws {
        var machine = RolloutMachine(spec: try Self.spec(), now: 0)
        _ = machine.start(now: 0)
        #expect(machine.restarted(now: 3) == [.rollBack, .finish(.failed)])
        #expect(machine.errorCode == "SERVER_RESTART" && machine.reason?.contains("10 % on version 7") == true)
        machine.rolledBack(now: 3, error: "the alias is gone")
        #expect(!machine.rolledBack && machine.rollbackError == "the alias is gone")
    }
}
