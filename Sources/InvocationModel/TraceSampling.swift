import LambdaModel
import NIOConcurrencyHelpers

/// AWS's sampling rule for Lambda's active tracing: a reservoir of `reservoirPerSecond` requests each second,
/// then `rate` of the rest (AWS: 1 a second and 5 %, not configurable there; configurable here for experiments).
///
/// A value type driven with the second and a uniform draw in `0..<1`, so that tests choose both.
public struct SamplingReservoir: Sendable, Hashable {
    public var reservoirPerSecond: Int
    public var rate: Double
    private var second: Int64 = .min
    private var taken = 0

    public init(reservoirPerSecond: Int = 1, rate: Double = 0.05) {
        self.reservoirPerSecond = reservoirPerSecond
        self.rate = rate
    }

    /// Whether to sample a request arriving during epoch second `second`, with `draw` uniform in `0..<1`.
    public mutating func decide(second: Int64, draw: Double) -> Bool {
        if second != self.second {
            self.second = second
            taken = 0
        }
        if taken < reservoirPerSecond {
            taken += 1
            return true
        }
        return draw < rate
    }
}

/// The platform's sampler: one ``SamplingReservoir`` behind a lock, fed by a clock and a random source that
/// tests replace.
public final class TraceSampler: Sendable {
    private let reservoir: NIOLockedValueBox<SamplingReservoir>
    private let clock: @Sendable () -> Int64
    private let draw: @Sendable () -> Double

    public init(
        reservoirPerSecond: Int = 1, rate: Double = 0.05,
        clock: (@Sendable () -> Int64)? = nil, draw: (@Sendable () -> Double)? = nil
    ) {
        self.reservoir = NIOLockedValueBox(SamplingReservoir(reservoirPerSecond: reservoirPerSecond, rate: rate))
        self.clock = clock ?? { Int64(WallClock.epochSeconds()) }
        self.draw = draw ?? { Double.random(in: 0..<1) }
    }

    public func sample() -> Bool {
        let second = clock()
        let value = draw()
        return reservoir.withLockedValue { $0.decide(second: second, draw: value) }
    }
}

/// The trace of one invocation as the platform hands it to the runtime (runtime-api.md §5): the Root, the
/// Parent the runtime's SDK puts its subsegments under, the sampling decision, and what came from upstream.
public struct TraceContext: Sendable, Hashable {
    /// `1-<8 hex>-<24 hex>`.
    public var root: String
    /// The 16-hex id handed to the runtime as `Parent`: the function segment's `Invocation` subsegment when the
    /// platform records the invoke.
    public var parent: String
    /// `1`, `0`, `?` or nil (no decision).
    public var sampled: String?
    public var lineage: String?
    /// The caller's `Parent` (its subsegment that made the call), for the service segment's `parent_id`.
    public var upstreamParent: String?

    public init(root: String, parent: String, sampled: String?, lineage: String? = nil, upstreamParent: String? = nil) {
        self.root = root
        self.parent = parent
        self.sampled = sampled
        self.lineage = lineage
        self.upstreamParent = upstreamParent
    }

    /// Whether the platform records segments for this invoke.
    public var isSampled: Bool { sampled == "1" }

    /// `Lambda-Runtime-Trace-Id`: always Root, Parent and Sampled (the X-Ray SDK sends nothing without all three).
    public var header: String {
        if let lineage {
            return String(
                joining: ["Root=", root, ";Parent=", parent, ";Sampled=", sampled ?? "0", ";Lineage=", lineage])
        }
        return String(joining: ["Root=", root, ";Parent=", parent, ";Sampled=", sampled ?? "0"])
    }
}
