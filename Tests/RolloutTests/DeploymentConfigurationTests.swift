import Rollout
import Testing

@Suite struct DeploymentConfigurationTests {
    @Test func everyPredefinedLambdaConfigurationHasItsAWSNameAndSchedule() throws {
        let expected: [String: [DeploymentConfiguration.Shift]] = [
            "LambdaCanary10Percent5Minutes": [.init(atMinutes: 0, percent: 10), .init(atMinutes: 5, percent: 100)],
            "LambdaCanary10Percent10Minutes": [.init(atMinutes: 0, percent: 10), .init(atMinutes: 10, percent: 100)],
            "LambdaCanary10Percent15Minutes": [.init(atMinutes: 0, percent: 10), .init(atMinutes: 15, percent: 100)],
            "LambdaCanary10Percent30Minutes": [.init(atMinutes: 0, percent: 10), .init(atMinutes: 30, percent: 100)],
            "LambdaLinear10PercentEvery1Minute": (0..<10).map { .init(atMinutes: $0, percent: ($0 + 1) * 10) },
            "LambdaLinear10PercentEvery2Minutes": (0..<10).map { .init(atMinutes: $0 * 2, percent: ($0 + 1) * 10) },
            "LambdaLinear10PercentEvery3Minutes": (0..<10).map { .init(atMinutes: $0 * 3, percent: ($0 + 1) * 10) },
            "LambdaLinear10PercentEvery10Minutes": (0..<10).map { .init(atMinutes: $0 * 10, percent: ($0 + 1) * 10) },
            "LambdaAllAtOnce": [.init(atMinutes: 0, percent: 100)],
        ]
        #expect(Set(DeploymentConfiguration.predefined.keys) == Set(expected.keys.map { "CodeDeployDefault." + $0 }))
        for (name, plan) in expected {
            let configuration = try DeploymentConfiguration.parse("CodeDeployDefault." + name)
            #expect(configuration.name == "CodeDeployDefault." + name)
            #expect(configuration.plan() == plan, "\(name)")
            // The SAM spelling and the short form name the same configuration.
            #expect(try DeploymentConfiguration.parse(String(name.dropFirst("Lambda".count))) == configuration)
        }
        // AWS's odd spellings are not guessed at.
        #expect(throws: RolloutError.self) { try DeploymentConfiguration.parse("LambdaLinear10PercentEvery1Minutes") }
        #expect(throws: RolloutError.self) { try DeploymentConfiguration.parse("LambdaCanary10PercentEvery5Minutes") }
    }

    @Test func linearEndsAfterNineWaitsUnlessAFinalWaitIsAsked() {
        let linear = DeploymentConfiguration.predefined["CodeDeployDefault.LambdaLinear10PercentEvery10Minutes"]!
        #expect(linear.plan().last == .init(atMinutes: 90, percent: 100))
        #expect(linear.plan(linearFinalWait: true).last == .init(atMinutes: 100, percent: 100))
    }

    @Test func customCanaryAndLinearInBothForms() throws {
        let canary = try DeploymentConfiguration.parse("TimeBasedCanary:25:45")
        #expect(canary.routing == .canary(percentage: 25, intervalMinutes: 45))
        #expect(canary.plan() == [.init(atMinutes: 0, percent: 25), .init(atMinutes: 45, percent: 100)])
        let cli = try DeploymentConfiguration.parse(
            "type=TimeBasedCanary,timeBasedCanary={canaryPercentage=25,canaryInterval=45}")
        #expect(cli.routing == canary.routing)
        // A percentage that does not divide 100 ends with a smaller last step.
        let linear = try DeploymentConfiguration.parse(
            "type=TimeBasedLinear,timeBasedLinear={linearPercentage=30,linearInterval=2}")
        #expect(
            linear.plan() == [
                .init(atMinutes: 0, percent: 30), .init(atMinutes: 2, percent: 60), .init(atMinutes: 4, percent: 90),
                .init(atMinutes: 6, percent: 100),
            ])
        #expect(try DeploymentConfiguration.parse("AllAtOnce").plan() == [.init(atMinutes: 0, percent: 100)])
    }

    @Test func codeDeployLimitsAreEnforced() {
        for bad in [
            "TimeBasedCanary:100:5", "TimeBasedCanary:0:5", "TimeBasedLinear:10:0", "TimeBasedLinear:1:30",
            "TimeBasedCanary:10:2881", "TimeBasedFlexible:10:1", "TimeBasedCanary:10", "Canary", "",
        ] {
            #expect(throws: RolloutError.self, "\(bad)") { try DeploymentConfiguration.parse(bad) }
        }
        // 2880 minutes is the limit itself.
        #expect((try? DeploymentConfiguration.parse("TimeBasedCanary:10:2880")) != nil)
    }

    @Test func aTimeScaleShortensEveryShift() throws {
        let spec = RolloutSpec(
            id: "d-TEST", function: "f", alias: "live", currentVersion: "1", targetVersion: "2",
            configuration: try DeploymentConfiguration.parse("LambdaLinear10PercentEvery2Minutes"), timeScale: 60)
        #expect(spec.schedule.map(\.at) == (0..<10).map { Double($0) * 2 })
        #expect(spec.intervalSeconds == 2)
    }
}

@Suite struct AlarmTests {
    @Test func alarmTextForms() throws {
        let errors = try AlarmRule.parse("errors>1%/1m/min20")
        #expect(errors.metric == .errors && errors.threshold == 1 && errors.periodSeconds == 60)
        #expect(errors.minimumRequests == 20 && errors.watched == .new && errors.name == "errors>1%/1m/min20")
        let p99 = try AlarmRule.parse("old:p99>500ms/30s")
        #expect(p99.metric == .p99 && p99.threshold == 500 && p99.periodSeconds == 30 && p99.watched == .old)
        #expect(p99.minimumRequests == 1)
        #expect(try AlarmRule.parse("throttles>0").periodSeconds == 60)
        for bad in ["errors", "latency>1", "errors>x", "errors>1/1q", "errors>1/min0"] {
            #expect(throws: RolloutError.self, "\(bad)") { try AlarmRule.parse(bad) }
        }
    }

    @Test func evaluationOnAWindowOfOneVersion() throws {
        var window = InvocationWindow(retentionSeconds: 120)
        // Version 2: 20 invocations, 4 errors, durations 1…20 ms; version 1: 10 clean ones; 2 throttles of 2.
        for index in 0..<20 {
            window.record(
                .init(at: 100 + Double(index) * 0.1, version: "2", durationMs: Double(index + 1), error: index < 4))
        }
        for index in 0..<10 { window.record(.init(at: 100 + Double(index) * 0.1, version: "1", durationMs: 1)) }
        window.record(.init(at: 101, version: "2", throttled: true))
        window.record(.init(at: 101, version: "2", throttled: true))
        let stats = window.stats(version: "2", since: 0)
        #expect(stats.requests == 22 && stats.invocations == 20 && stats.errors == 4 && stats.throttles == 2)
        #expect(stats.p99Ms == 20 && stats.errorPercent == 20)

        let errors = try AlarmRule.parse("errors>10%/1s/min20")
        // Period 1 configured second at scale 1: the window [101, 102] has only a few requests.
        #expect(window.evaluate(errors, version: "2", now: 102, timeScale: 1, clock: 0).state == .insufficientData)
        // A time scale of 1/60 makes the 1-second period a minute long: every sample is in it.
        let tripped = window.evaluate(errors, version: "2", now: 102, timeScale: 1 / 60, clock: 7)
        #expect(tripped.state == .alarm && tripped.value == 20 && tripped.requests == 22 && tripped.at == 7)
        let clean = window.evaluate(errors, version: "1", now: 102, timeScale: 1 / 60, clock: 7)
        #expect(clean.state == .insufficientData, "10 requests of version 1, fewer than 20")
        let cleanEnough = window.evaluate(
            try AlarmRule.parse("errors>10%/1m/min10"), version: "1", now: 102, timeScale: 1, clock: 7)
        #expect(cleanEnough.state == .ok && cleanEnough.value == 0)
        #expect(
            window.evaluate(try AlarmRule.parse("throttles>1/1m"), version: "2", now: 102, timeScale: 1, clock: 0)
                .state == .alarm)
        #expect(
            window.evaluate(try AlarmRule.parse("p99>20ms/1m"), version: "2", now: 102, timeScale: 1, clock: 0)
                .state == .ok)
        #expect(
            window.evaluate(try AlarmRule.parse("p99>19ms/1m"), version: "2", now: 102, timeScale: 1, clock: 0)
                .state == .alarm)
        window.record(.init(at: 150, version: "3", durationMs: 1))
        window.prune(now: 250)
        #expect(window.samples.map(\.version) == ["3"], "only the sample at 150 is within 120 s")
        window.prune(now: 1000)
        #expect(window.samples.isEmpty)
    }
}
