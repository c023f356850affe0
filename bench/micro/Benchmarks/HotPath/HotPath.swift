import Benchmark
import HotPathFixtures

/// The pure part of serving one request, step by step: event encoding, result decoding, listener routing, and
/// encode + decode together (see `HotPathOperation`). Each iteration runs `scalingFactor` (1,000) operations and
/// every figure is reported per operation: wall clock, throughput, and the allocations (count and requested
/// bytes) the operation makes. The baseline is the harness with nothing to do (it allocates nothing). CPU time
/// is left out: Linux reports it in 10 ms ticks, coarser than one iteration, and with it the baseline showed
/// about 35 bytes allocated per operation by the harness itself.
let benchmarks: @Sendable () -> Void = {
    Checks.verifyAll()

    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .mallocBytesCount],
        timeUnits: .nanoseconds,
        warmupIterations: 10,
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 10_000
    )

    for operation in HotPathOperation.allCases {
        Benchmark(operation.title) { benchmark in
            operation.run(benchmark.scaledIterations.count)
        }
    }
}
