import Bench
import Foundation
import Testing

@Suite struct PhaseSplitTests {
    @Test func coldPhasesAddUpToTheTotalExactly() throws {
        let times = SampleTimes(
            sent: 1_000, received: 1_500, placed: 2_000, spawned: 9_000, ready: 30_000, delivered: 30_100,
            posted: 50_000, completed: 50_700)
        let phases = try #require(times.phases)
        #expect(phases[.send] == 500)
        #expect(phases[.initPlatform] == 7_000)
        #expect(phases[.initRuntime] == 21_000)
        // received → placed, plus ready → delivered.
        #expect(phases[.queueing] == 600)
        #expect(phases[.invoke] == 19_900)
        #expect(phases[.returnPath] == 700)
        #expect(Phase.parts.map { phases[$0]! }.reduce(0, +) == phases[.total])
        #expect(phases[.total] == 49_700)
    }

    @Test func warmSamplesHaveNoInitPhases() throws {
        let times = SampleTimes(sent: 0, received: 10, delivered: 400, posted: 900, completed: 1_000)
        let phases = try #require(times.phases)
        #expect(phases[.initPlatform] == nil && phases[.initRuntime] == nil)
        #expect(phases[.queueing] == 390)
        #expect(Phase.parts.compactMap { phases[$0] }.reduce(0, +) == 1_000)
    }

    @Test func anInvocationThatNeverReachedARuntimeHasOnlyItsTotal() {
        let times = SampleTimes(sent: 0, received: 10, completed: 300)
        #expect(times.phases == nil)
        let sample = Sample(times: times, runStart: 0, outcome: .throttled, errorType: "throttled", placement: nil)
        #expect(sample.phasesMs == ["total": 0.0003])
    }
}

@Suite struct DistributionTests {
    @Test func percentilesOfAUniformRange() {
        let values = (1...1000).map(Double.init)
        let distribution = Distribution(valuesMs: values)
        #expect(distribution.count == 1000)
        // Three significant digits: within 0.1 %.
        #expect(abs(distribution.p50Ms - 500) <= 0.5)
        #expect(abs(distribution.p90Ms - 900) <= 0.9)
        #expect(abs(distribution.p99Ms - 990) <= 1)
        #expect(abs(distribution.maxMs - 1000) <= 1)
        #expect(abs(distribution.meanMs - 500.5) < 1e-9)
        #expect(abs(distribution.stddevMs - 288.8194360957494) < 1e-6)
        #expect(distribution.histogramMicroseconds.map { $0[1] }.reduce(0, +) == 1000)
        #expect(distribution.expandedMs.count == 1000)
    }

    @Test func onlySuccessfulSamplesEnterThePercentiles() {
        let ok = (0..<10).map { Sample(startMs: Double($0), outcome: .ok, placement: "warm", phasesMs: ["total": 5]) }
        let failed = [
            Sample(
                startMs: 10, outcome: .timeout, errorType: "Sandbox.Timedout", placement: "warm",
                phasesMs: ["total": 3000]),
            Sample(startMs: 11, outcome: .throttled, errorType: "throttled", placement: nil, phasesMs: ["total": 0.1]),
            Sample(startMs: 12, outcome: .functionError, errorType: "Oops", placement: "warm", phasesMs: ["total": 4]),
        ]
        let run = RunReport(mode: .warm, requested: 13, wallSeconds: 1.3, samples: ok + failed)
        #expect(run.phase(.total)?.count == 10)
        #expect(run.phase(.total)?.maxMs == 5)
        #expect(run.count(.ok) == 10 && run.count(.timeout) == 1 && run.count(.throttled) == 1)
        #expect(run.count(.functionError) == 1 && run.count(.failed) == 0)
        #expect(run.errorTypes == ["Sandbox.Timedout": 1, "throttled": 1, "Oops": 1])
        #expect(run.completionsPerSecond.reduce(0, +) == 13)
        #expect(run.placements == ["warm": 12])
    }
}

@Suite struct SignificanceTests {
    @Test func mannWhitneyOfTwoSeparatedSamples() {
        // U = 0; normal approximation with continuity correction: z = 4 / sqrt(5.25).
        let (u, p) = Significance.mannWhitney([1, 2, 3], [4, 5, 6])
        #expect(u == 0)
        #expect(abs(p - 0.08086) < 1e-4)
    }

    @Test func mannWhitneyOfIdenticalSamplesFindsNothing() {
        let values = (0..<200).map { Double($0 % 17) }
        #expect(Significance.mannWhitney(values, values).p > 0.99)
    }

    @Test func aShiftIsFoundAndItsIntervalCoversIt() {
        var random = SystemRandomNumberGenerator()
        let a = (0..<300).map { _ in 10 + Double.random(in: 0..<2, using: &random) }
        let b = a.map { $0 + 20 }
        #expect(Significance.mannWhitney(a, b).p < 1e-10)
        let interval = Significance.medianDifferenceInterval(a, b)
        #expect(interval.low <= 20 && 20 <= interval.high)
        // Reproducible: the same inputs give the same interval.
        let again = Significance.medianDifferenceInterval(a, b)
        #expect(again.low == interval.low && again.high == interval.high)
    }
}
