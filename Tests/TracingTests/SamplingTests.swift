import InvocationModel
import Testing

struct SamplingTests {
    @Test func reservoirTakesOneRequestASecondThenTheRate() {
        var reservoir = SamplingReservoir(reservoirPerSecond: 1, rate: 0.05)
        let decisions = [(100, 0.99), (100, 0.05), (100, 0.049), (100, 0.5), (101, 0.99), (101, 0.99)].map {
            reservoir.decide(second: Int64($0.0), draw: $0.1)
        }
        // Second 100: the first request is the reservoir's whatever the draw, the rest only under 5 %; a new
        // second refills the reservoir.
        #expect(decisions == [true, false, true, false, true, false])
    }

    @Test func overridesForExperiments() {
        var everything = SamplingReservoir(reservoirPerSecond: 0, rate: 1.0)
        var nothing = SamplingReservoir(reservoirPerSecond: 0, rate: 0)
        var sampled = (all: 0, none: 0)
        for draw in 0..<100 {
            if everything.decide(second: 5, draw: Double(draw) / 100) { sampled.all += 1 }
            if nothing.decide(second: 5, draw: Double(draw) / 100) { sampled.none += 1 }
        }
        #expect(sampled.all == 100 && sampled.none == 0)
    }

    @Test func samplerUsesItsClockAndRandomSource() {
        let draws = Box([0.9, 0.01, 0.9])
        let sampler = TraceSampler(reservoirPerSecond: 1, rate: 0.05, clock: { 7 }, draw: { draws.next() })
        #expect(sampler.sample())  // reservoir
        #expect(sampler.sample())  // 0.01 < 5 %
        #expect(!sampler.sample())  // 0.9
    }

    @Test func activeTracingHonoursAnUpstreamDecisionAndSamplesOtherwise() {
        var generator = SystemRandomNumberGenerator()
        let root = "1-5bef4de7-ad49b0e87f6ef6c87fc2e700"
        let never: () -> Bool = {
            Issue.record("sampler asked although upstream decided"); return true
        }
        let yes = TraceHeader.context(
            from: "Root=\(root);Parent=9a9197af755a6419;Sampled=1", sample: never, using: &generator)
        #expect(yes.root == root && yes.sampled == "1" && yes.isSampled)
        #expect(yes.upstreamParent == "9a9197af755a6419")
        #expect(yes.parent.utf8.count == 16 && yes.parent != "9a9197af755a6419")
        let no = TraceHeader.context(from: "Root=\(root);Sampled=0", sample: never, using: &generator)
        #expect(no.sampled == "0" && !no.isSampled)
        // The ALB's Root-only header, a requested decision, or none: the sampler decides.
        let alb = TraceHeader.context(
            from: "Self=1-5bef4de7-000000000000000000000001;Root=\(root)", sample: { true }, using: &generator)
        #expect(alb.root == root && alb.sampled == "1")
        let asked = TraceHeader.context(from: "Root=\(root);Sampled=?", sample: { false }, using: &generator)
        #expect(asked.sampled == "0")
        let fresh = TraceHeader.context(from: nil, sample: { true }, using: &generator)
        #expect(fresh.root.hasPrefix("1-") && fresh.root.utf8.count == 35 && fresh.isSampled)
        // The runtime always gets Root, Parent and Sampled (and Lineage when it came).
        let lineage = TraceHeader.context(from: "Root=\(root);Lineage=23567b9c:0", sample: { false }, using: &generator)
        #expect(lineage.header == "Root=\(root);Parent=\(lineage.parent);Sampled=0;Lineage=23567b9c:0")
    }

    @Test func passThroughKeepsTheUpstreamDecisionAndNeverSamples() {
        var generator = SystemRandomNumberGenerator()
        let root = "1-5bef4de7-ad49b0e87f6ef6c87fc2e700"
        let sampled = TraceHeader.context(from: "Root=\(root);Sampled=1", sample: nil, using: &generator)
        #expect(sampled.isSampled, "an upstream that sampled is recorded in PassThrough too (observability.md §4.3)")
        let undecided = TraceHeader.context(from: "Root=\(root)", sample: nil, using: &generator)
        #expect(!undecided.isSampled && undecided.header == "Root=\(root);Parent=\(undecided.parent);Sampled=0")
    }
}

/// A sequence of values handed out one by one, across the sampler's `@Sendable` closure.
final class Box: @unchecked Sendable {
    private var values: [Double]
    init(_ values: [Double]) { self.values = values }
    func next() -> Double { values.removeFirst() }
}

/// How ``TraceHeader/context(from:sample:using:)`` reads an incoming `X-Amzn-Trace-Id`.
struct TraceHeaderParsingTests {
    @Test func fieldsInAnyOrderWithSpacesAndEmptyFields() {
        var generator = SystemRandomNumberGenerator()
        let context = TraceHeader.context(
            from: ";Lineage=a87bd80c:1 ;  Parent=53995c3f42cd8ad8;;Sampled=1; Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700",
            sample: nil, using: &generator)
        #expect(context.root == "1-5bef4de7-ad49b0e87f6ef6c87fc2e700")
        #expect(context.upstreamParent == "53995c3f42cd8ad8")
        #expect(context.sampled == "1")
        #expect(context.lineage == "a87bd80c:1 ", "a value keeps what follows it up to the next ';'")
        #expect(context.parent.count == 16 && context.parent != "53995c3f42cd8ad8", "a new segment id")
    }

    @Test func theLastOfARepeatedFieldWinsAndUnknownFieldsAreIgnored() {
        var generator = SystemRandomNumberGenerator()
        let context = TraceHeader.context(
            from: "Root=1-00000000-000000000000000000000001;Self=1-x;Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700",
            sample: nil, using: &generator)
        #expect(context.root == "1-5bef4de7-ad49b0e87f6ef6c87fc2e700")
        #expect(context.sampled == nil && context.lineage == nil && context.upstreamParent == nil)
    }

    @Test func withoutARootANewOneIsMade() {
        var generator = SystemRandomNumberGenerator()
        for incoming in [nil, "", "Sampled=0", "root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700"] {
            let context = TraceHeader.context(from: incoming, sample: nil, using: &generator)
            #expect(context.root.hasPrefix("1-") && context.root.count == 35, "\(incoming ?? "nil")")
        }
    }
}
