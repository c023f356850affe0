import Testing
import Tracing

struct TraceWaterfallTests {
    /// The platform's documents of a cold start and the SDK's subsegment (sent alone, under `Parent`).
    static func lines() -> [String] {
        let platform = PlatformSegments.documents(
            for: PlatformSegmentsTests.invocation(), newID: PlatformSegmentsTests.ids())
        let sdk =
            #"{"id":"5ca1ab1e00000001","name":"outbound-call","start_time":1700000000.300,"end_time":1700000000.400,"type":"subsegment","parent_id":"9a9197af755a6419","trace_id":"1-5bef4de7-ad49b0e87f6ef6c87fc2e700","fault":true,"cause":{"exceptions":[{"type":"URLError","message":"refused"}]}}"#
        // The SDK's datagram usually lands before the platform writes its segments.
        return [sdk] + platform.map(\.json)
    }

    @Test func treeNestsTheSDKsSubsegmentUnderInvocation() {
        let tree = TraceTree(traceID: PlatformSegmentsTests.traceID, lines: Self.lines())
        #expect(tree.roots.count == 1)
        let service = tree.roots[0]
        #expect(service.origin == "AWS::Lambda" && service.children.map(\.origin) == ["AWS::Lambda::Function"])
        let function = service.children[0]
        #expect(function.children.map(\.name) == ["Initialization", "Invocation", "Overhead"])
        #expect(function.children[1].children.map(\.name) == ["outbound-call"])
        #expect(tree.function == "orders" && tree.coldStart && tree.failed)
        #expect(abs(tree.durationMs - 500) < 0.001)
    }

    @Test func waterfallShowsOffsetsDurationsBarsAndMarks() {
        let text = TraceWaterfall.render(
            TraceTree(traceID: PlatformSegmentsTests.traceID, lines: Self.lines()), width: 20)
        let expected = """
            Trace 1-5bef4de7-ad49b0e87f6ef6c87fc2e700  function orders  500.00 ms  [cold start]  [error]
                offset   duration  name                                         timeline
               0.00 ms  500.00 ms  orders (AWS::Lambda)                         |####################|
              10.00 ms  485.00 ms    orders (AWS::Lambda::Function)             |####################|
              10.00 ms  200.00 ms      Initialization                           |########            | [cold start]
             210.00 ms  280.00 ms      Invocation                               |        ############|
             300.00 ms  100.00 ms        outbound-call                          |            ####    | [fault] URLError: refused
             490.00 ms    5.00 ms      Overhead                                 |                   #|

            """
        #expect(text == expected, "\n\(text)")
    }

    @Test func unknownParentsBecomeRootsAndGarbageIsSkipped() {
        let orphan =
            #"{"id":"5ca1ab1e00000002","name":"late","start_time":1700000001,"in_progress":true,"type":"subsegment","parent_id":"ffffffffffffffff","trace_id":"1-5bef4de7-ad49b0e87f6ef6c87fc2e700"}"#
        let tree = TraceTree(traceID: PlatformSegmentsTests.traceID, lines: Self.lines() + [orphan, "not json"])
        #expect(tree.roots.map(\.name) == ["orders", "late"])
        #expect(TraceWaterfall.render(tree).contains("[in progress]"))
    }
}
