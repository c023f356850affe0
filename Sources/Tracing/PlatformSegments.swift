import ALBEvents
import LambdaModel

/// What the platform knows about one sampled invoke once it is over: the input of ``PlatformSegments``.
/// Times are epoch seconds.
public struct TracedInvocation: Sendable, Hashable {
    public struct Span: Sendable, Hashable {
        public var start: Double
        public var end: Double
        public init(start: Double, end: Double) {
            self.start = start
            self.end = end
        }
    }

    public var requestID: String
    public var function: String
    /// The ARN the caller invoked (qualified for versions and aliases).
    public var functionARN: String
    public var accountID: String
    public var traceID: String
    /// The `Parent` handed to the runtime: the id of the `Invocation` subsegment.
    public var invocationID: String
    /// The caller's subsegment, for the service segment's `parent_id`.
    public var upstreamParent: String?
    /// Request entered the platform → invoke over.
    public var service: Span
    /// The cold start's INIT, with whether it failed.
    public var initialization: Span?
    public var initFailed: Bool = false
    /// Event delivered → result posted; nil when the event never reached the runtime.
    public var invocation: Span?
    /// Result posted → the runtime's next `/next`; nil when it never asked again.
    public var overhead: Span?
    /// The invoke was refused for lack of concurrency (429).
    public var throttled: Bool = false
    /// The function error type (`Unhandled` invokes: raised error, crash, timeout); nil on success.
    public var errorType: String?
    public var errorMessage: String?
    /// `Lambda-Runtime-Function-XRay-Error-Cause` as the runtime posted it.
    public var errorCause: String?

    public init(
        requestID: String, function: String, functionARN: String, accountID: String, traceID: String,
        invocationID: String, upstreamParent: String?, service: Span
    ) {
        self.requestID = requestID
        self.function = function
        self.functionARN = functionARN
        self.accountID = accountID
        self.traceID = traceID
        self.invocationID = invocationID
        self.upstreamParent = upstreamParent
        self.service = service
    }
}

/// The segments Lambda writes for a sampled invoke (observability.md §4.1–§4.2): one `AWS::Lambda` service
/// segment, and unless the invoke was throttled one `AWS::Lambda::Function` segment under it with the
/// subsegments `Initialization` (cold start), `Invocation` (whose id the runtime got as `Parent`, so the SDK's
/// subsegments hang under it) and `Overhead`.
public enum PlatformSegments {
    /// The documents, service segment first; `newID` makes the ids the platform does not already have.
    public static func documents(for invocation: TracedInvocation, newID: () -> String) -> [SegmentDocument] {
        let serviceID = newID()
        var service = JSONObjectText()
        service.string("id", serviceID)
        service.string("name", invocation.function)
        service.string("trace_id", invocation.traceID)
        if let parent = invocation.upstreamParent { service.string("parent_id", parent) }
        service.number("start_time", invocation.service.start)
        service.number("end_time", invocation.service.end)
        service.string("origin", "AWS::Lambda")
        service.string("resource_arn", invocation.functionARN)
        service.raw("http", #"{"response":{"status":\#(invocation.throttled ? 429 : 200)}}"#)
        service.raw("aws", "{\"request_id\":\(JSONText.quoted(invocation.requestID))}")
        if invocation.throttled {
            service.raw("error", "true")
            service.raw("throttle", "true")
        }
        var documents = [SegmentDocument(traceID: invocation.traceID, id: serviceID, json: service.text)]
        if invocation.throttled { return documents }

        let functionID = newID()
        var subsegments: [String] = []
        let arnObject = "{\"function_arn\":\(JSONText.quoted(invocation.functionARN))}"
        if let span = invocation.initialization {
            var initialization = JSONObjectText()
            initialization.string("id", newID())
            initialization.string("name", "Initialization")
            initialization.number("start_time", span.start)
            initialization.number("end_time", span.end)
            initialization.raw("aws", arnObject)
            if invocation.initFailed { initialization.raw("fault", "true") }
            subsegments.append(initialization.text)
        }
        if let span = invocation.invocation {
            var invoke = JSONObjectText()
            invoke.string("id", invocation.invocationID)
            invoke.string("name", "Invocation")
            invoke.number("start_time", span.start)
            invoke.number("end_time", span.end)
            invoke.raw("aws", arnObject)
            if invocation.errorType != nil { invoke.raw("fault", "true") }
            subsegments.append(invoke.text)
        }
        if let span = invocation.overhead {
            var overhead = JSONObjectText()
            overhead.string("id", newID())
            overhead.string("name", "Overhead")
            overhead.number("start_time", span.start)
            overhead.number("end_time", span.end)
            overhead.raw("aws", arnObject)
            subsegments.append(overhead.text)
        }
        let spans = [invocation.initialization, invocation.invocation, invocation.overhead].compactMap { $0 }
        var function = JSONObjectText()
        function.string("id", functionID)
        function.string("name", invocation.function)
        function.string("trace_id", invocation.traceID)
        function.string("parent_id", serviceID)
        function.number("start_time", spans.map(\.start).min() ?? invocation.service.start)
        function.number("end_time", spans.map(\.end).max() ?? invocation.service.end)
        function.string("origin", "AWS::Lambda::Function")
        function.raw(
            "aws",
            "{\"function_arn\":\(JSONText.quoted(invocation.functionARN)),\"resource_names\":[\(JSONText.quoted(invocation.function))],\"account_id\":\(JSONText.quoted(invocation.accountID))}"
        )
        if let errorType = invocation.errorType {
            function.raw("fault", "true")
            function.raw(
                "cause", cause(errorType: errorType, message: invocation.errorMessage, posted: invocation.errorCause))
        }
        if !subsegments.isEmpty { function.raw("subsegments", "[" + subsegments.joined(separator: ",") + "]") }
        documents.append(SegmentDocument(traceID: invocation.traceID, id: functionID, json: function.text))
        return documents
    }

    /// The `cause` object: what the runtime posted as `Lambda-Runtime-Function-XRay-Error-Cause` when it is a JSON
    /// object, else one exception built from the error type and message.
    static func cause(errorType: String, message: String?, posted: String?) -> String {
        if let posted, case .object = try? JSONParser.parse(posted) {
            return String(posted.map { $0 == "\n" || $0 == "\r" ? " " : $0 })
        }
        var exception = JSONObjectText()
        exception.string("message", message ?? errorType)
        exception.string("type", errorType)
        return "{\"exceptions\":[\(exception.text)]}"
    }
}

/// A JSON object written member by member (the platform's documents are small and flat).
struct JSONObjectText {
    private var members: [String] = []

    mutating func string(_ key: String, _ value: String) { members.append("\"\(key)\":\(JSONText.quoted(value))") }
    mutating func number(_ key: String, _ value: Double) { members.append("\"\(key)\":\(Self.seconds(value))") }
    mutating func raw(_ key: String, _ json: String) { members.append("\"\(key)\":\(json)") }

    var text: String { "{" + members.joined(separator: ",") + "}" }

    /// Epoch seconds with microseconds, as X-Ray writes them.
    static func seconds(_ value: Double) -> String {
        let micros = Int64((value * 1_000_000).rounded())
        let whole = micros / 1_000_000
        let fraction = String(micros % 1_000_000)
        return "\(whole)." + String(repeating: "0", count: 6 - fraction.count) + fraction
    }

}
