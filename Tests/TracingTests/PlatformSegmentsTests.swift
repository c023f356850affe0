import Testing
import Tracing

struct PlatformSegmentsTests {
    static let traceID = "1-5bef4de7-ad49b0e87f6ef6c87fc2e700"

    static func invocation() -> TracedInvocation {
        var invocation = TracedInvocation(
            requestID: "8f5c-req", function: "orders",
            functionARN: "arn:aws:lambda:us-east-1:123456789012:function:orders", accountID: "123456789012",
            traceID: traceID, invocationID: "9a9197af755a6419", upstreamParent: "53995c3f42cd8ad8",
            service: .init(start: 1_700_000_000.000, end: 1_700_000_000.500))
        invocation.initialization = .init(start: 1_700_000_000.010, end: 1_700_000_000.210)
        invocation.invocation = .init(start: 1_700_000_000.210, end: 1_700_000_000.490)
        invocation.overhead = .init(start: 1_700_000_000.490, end: 1_700_000_000.495)
        return invocation
    }

    static func ids() -> () -> String {
        var next = 0
        return {
            next += 1
            return "00000000000000a\(next)"
        }
    }

    @Test func coldStartWritesServiceAndFunctionSegmentsWithTheThreeSubsegments() throws {
        let documents = PlatformSegments.documents(for: Self.invocation(), newID: Self.ids())
        #expect(documents.count == 2)
        #expect(
            documents[0].json
                == #"{"id":"00000000000000a1","name":"orders","trace_id":"1-5bef4de7-ad49b0e87f6ef6c87fc2e700","parent_id":"53995c3f42cd8ad8","start_time":1700000000.000000,"end_time":1700000000.500000,"origin":"AWS::Lambda","resource_arn":"arn:aws:lambda:us-east-1:123456789012:function:orders","http":{"response":{"status":200}},"aws":{"request_id":"8f5c-req"}}"#
        )
        #expect(
            documents[1].json
                == #"{"id":"00000000000000a2","name":"orders","trace_id":"1-5bef4de7-ad49b0e87f6ef6c87fc2e700","parent_id":"00000000000000a1","start_time":1700000000.010000,"end_time":1700000000.495000,"origin":"AWS::Lambda::Function","aws":{"function_arn":"arn:aws:lambda:us-east-1:123456789012:function:orders","resource_names":["orders"],"account_id":"123456789012"},"subsegments":[{"id":"00000000000000a3","name":"Initialization","start_time":1700000000.010000,"end_time":1700000000.210000,"aws":{"function_arn":"arn:aws:lambda:us-east-1:123456789012:function:orders"}},{"id":"9a9197af755a6419","name":"Invocation","start_time":1700000000.210000,"end_time":1700000000.490000,"aws":{"function_arn":"arn:aws:lambda:us-east-1:123456789012:function:orders"}},{"id":"00000000000000a4","name":"Overhead","start_time":1700000000.490000,"end_time":1700000000.495000,"aws":{"function_arn":"arn:aws:lambda:us-east-1:123456789012:function:orders"}}]}"#
        )
        // Every document is one the daemon would accept.
        for document in documents {
            let datagram = Array(("{\"format\":\"json\",\"version\":1}\n" + document.json).utf8)
            #expect(try SegmentDatagram.parse(datagram).get() == document)
        }
    }

    @Test func functionErrorIsAFaultWithTheRuntimesCause() {
        var invocation = Self.invocation()
        invocation.initialization = nil
        invocation.errorType = "ValueError"
        invocation.errorMessage = "bad order"
        invocation.errorCause =
            #"{"working_directory":"/var/task","exceptions":[{"type":"ValueError","message":"bad order"}],"paths":["/var/task/app.py"]}"#
        let function = PlatformSegments.documents(for: invocation, newID: Self.ids())[1].json
        #expect(function.contains(#""fault":true,"cause":{"working_directory":"/var/task","exceptions""#))
        #expect(!function.contains("Initialization"), "a warm invoke has no Initialization")
        // Without a posted cause (a crash, a timeout): one exception from the platform's error.
        invocation.errorCause = nil
        invocation.errorType = "Sandbox.Timedout"
        invocation.errorMessage = "Task timed out after 3.00 seconds"
        let timedOut = PlatformSegments.documents(for: invocation, newID: Self.ids())[1].json
        #expect(
            timedOut.contains(
                #""cause":{"exceptions":[{"message":"Task timed out after 3.00 seconds","type":"Sandbox.Timedout"}]}"#))
    }

    @Test func throttledInvokeHasOnlyTheServiceSegment() {
        var invocation = Self.invocation()
        invocation.throttled = true
        let documents = PlatformSegments.documents(for: invocation, newID: Self.ids())
        #expect(documents.count == 1)
        #expect(documents[0].json.contains(#""http":{"response":{"status":429}}"#))
        #expect(documents[0].json.hasSuffix(#""error":true,"throttle":true}"#))
    }
}
