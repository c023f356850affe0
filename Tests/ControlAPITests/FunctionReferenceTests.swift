import LambdaModel
import Testing

@testable import ControlAPI

/// FunctionName forms and the qualifier rules of §3.3.
struct FunctionReferenceTests {
    static let account = AccountContext()

    static func resolve(
        _ name: String, _ qualifier: String? = nil, region: String = "us-east-1"
    ) throws(APIError)
        -> FunctionReference
    {
        try FunctionReference.resolve(functionName: name, qualifier: qualifier, region: region, account: account)
    }

    @Test func acceptsEveryForm() throws {
        #expect(try Self.resolve("my-fn") == FunctionReference(name: "my-fn", qualifier: nil))
        #expect(try Self.resolve("my-fn:prod") == FunctionReference(name: "my-fn", qualifier: "prod"))
        #expect(try Self.resolve("my-fn:$LATEST") == FunctionReference(name: "my-fn", qualifier: "$LATEST"))
        #expect(try Self.resolve("my-fn", "3") == FunctionReference(name: "my-fn", qualifier: "3"))
        #expect(
            try Self.resolve("123456789012:function:my-fn:2") == FunctionReference(name: "my-fn", qualifier: "2"))
        #expect(
            try Self.resolve("arn:aws:lambda:us-east-1:123456789012:function:my-fn")
                == FunctionReference(name: "my-fn", qualifier: nil))
        #expect(
            try Self.resolve("arn:aws:lambda:us-east-1:123456789012:function:my-fn:live", "live")
                == FunctionReference(name: "my-fn", qualifier: "live"))
    }

    @Test func refusesAsAWSDoes() {
        #expect(
            throws: APIError.invalidParameter(
                "The derived qualifier from the function name does not match the specified qualifier.")
        ) { try Self.resolve("my-fn:prod", "2") }
        #expect(
            throws: APIError.resourceNotFound(
                "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')")
        ) { try Self.resolve("arn:aws:lambda:eu-west-1:123456789012:function:my-fn") }
        do {
            _ = try Self.resolve("arn:aws:lambda:us-east-1:210987654321:function:my-fn")
            Issue.record("accepted")
        } catch {
            #expect(error.type == "AccessDeniedException" && error.status == 403)
        }
        do {
            _ = try Self.resolve("my fn")
            Issue.record("accepted")
        } catch {
            #expect(error.type == "ValidationException")
            #expect(
                error.message.hasPrefix(
                    "1 validation error detected: Value 'my fn' at 'functionName' failed to satisfy constraint: "
                        + "Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?"))
        }
        #expect(
            throws: APIError.validation(
                value: String(repeating: "a", count: 257), member: "functionName",
                constraint: "Member must have length less than or equal to 256")
        ) { try Self.resolve(String(repeating: "a", count: 257)) }
        do {
            _ = try Self.resolve("my-fn", "bad qualifier")
            Issue.record("accepted")
        } catch {
            #expect(error.type == "ValidationException" && error.message.contains("at 'qualifier'"))
        }
    }
}
