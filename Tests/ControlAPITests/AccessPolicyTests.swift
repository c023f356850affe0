import Testing

@testable import ControlAPI

/// The policy evaluation the load balancer's `LambdaAccessDenied` check rests on: statements as AddPermission writes
/// them, IAM's wildcards, conditions, and an explicit Deny winning.
struct AccessPolicyTests {
    static let function = "arn:aws:lambda:us-east-1:123456789012:function:web"
    static let group = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-tg/0123456789abcdef"

    static func statement(
        principal: String = #"{"Service":"elasticloadbalancing.amazonaws.com"}"#,
        action: String = "lambda:InvokeFunction",
        resource: String = function, condition: String? = nil, effect: String = "Allow"
    ) -> String {
        var text = #"{"Sid":"s","Effect":"\#(effect)","Principal":\#(principal),"Action":"\#(action)","#
        text += #""Resource":"\#(resource)""#
        if let condition { text += #","Condition":\#(condition)"# }
        return text + "}"
    }

    static func allows(_ statements: [String], function: String = function, group: String = group) -> Bool {
        AccessPolicy.allowsLoadBalancer(
            statements: statements, functionARN: function, targetGroupARN: group, account: "123456789012")
    }

    @Test func theLoadBalancerNeedsAStatementForItsTargetGroup() {
        #expect(!Self.allows([]))
        #expect(Self.allows([Self.statement()]))
        #expect(Self.allows([Self.statement(action: "lambda:*")]))
        #expect(Self.allows([Self.statement(action: "*")]))
        #expect(Self.allows([Self.statement(principal: #""*""#)]))
        #expect(Self.allows([Self.statement(action: "LAMBDA:invokefunction")]), "actions are case-insensitive")
        #expect(!Self.allows([Self.statement(action: "lambda:GetFunction")]))
        #expect(!Self.allows([Self.statement(principal: #"{"Service":"s3.amazonaws.com"}"#)]))
        #expect(!Self.allows([Self.statement(principal: #"{"AWS":"arn:aws:iam::123456789012:root"}"#)]))
        // The function as the target group names it: an alias's statement is not the function's.
        #expect(!Self.allows([Self.statement(resource: Self.function + ":live")]))
        #expect(!Self.allows([Self.statement()], function: Self.function + ":live"))
        #expect(Self.allows([Self.statement(resource: Self.function + ":*")], function: Self.function + ":live"))
    }

    @Test func sourceArnAndSourceAccountConditions() {
        let arnLike = #"{"ArnLike":{"AWS:SourceArn":"\#(Self.group)"}}"#
        #expect(Self.allows([Self.statement(condition: arnLike)]))
        let other =
            #"{"ArnLike":{"AWS:SourceArn":"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/other/1"}}"#
        #expect(!Self.allows([Self.statement(condition: other)]))
        let wildcard =
            #"{"ArnLike":{"AWS:SourceArn":"arn:aws:elasticloadbalancing:*:123456789012:targetgroup/web-?g/*"}}"#
        #expect(Self.allows([Self.statement(condition: wildcard)]))
        let account =
            #"{"StringEquals":{"AWS:SourceAccount":"123456789012"},"ArnLike":{"AWS:SourceArn":"\#(Self.group)"}}"#
        #expect(Self.allows([Self.statement(condition: account)]))
        let otherAccount = #"{"StringEquals":{"AWS:SourceAccount":"111122223333"}}"#
        #expect(!Self.allows([Self.statement(condition: otherAccount)]))
        // A key the request does not carry never matches; an operator Albatross does not know never applies.
        let token = #"{"StringEquals":{"lambda:EventSourceToken":"t"}}"#
        #expect(!Self.allows([Self.statement(condition: token)]))
        let unknown = #"{"NumericLessThan":{"AWS:SourceAccount":"2"}}"#
        #expect(!Self.allows([Self.statement(condition: unknown)]))
    }

    @Test func anExplicitDenyWins() {
        #expect(!Self.allows([Self.statement(), Self.statement(effect: "Deny")]))
        #expect(Self.allows([Self.statement(), Self.statement(action: "lambda:GetFunction", effect: "Deny")]))
        #expect(!Self.allows(["not json", #"{"Effect":"Allow"}"#]), "statements that do not parse grant nothing")
    }

    @Test func identityPolicyDocuments() throws {
        let document = """
            {"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Action":["lambda:Get*","lambda:InvokeFunction"],"Resource":"arn:aws:lambda:*:*:function:web*"},
              {"Effect":"Deny","NotAction":"lambda:Get*","Resource":"arn:aws:lambda:*:*:function:webhook"}]}
            """
        let policy = try #require(AccessPolicy(document: document))
        let user = AccessPolicy.Request.Principal.aws(
            arn: "arn:aws:iam::123456789012:user/ann", account: "123456789012")
        func decide(_ action: String, _ resource: String) -> AccessPolicy.Decision {
            policy.evaluate(AccessPolicy.Request(principal: user, action: action, resource: resource))
        }
        #expect(decide("lambda:GetFunction", Self.function) == .allow)
        #expect(decide("lambda:InvokeFunction", Self.function + ":live") == .allow)
        #expect(decide("lambda:DeleteFunction", Self.function) == .none)
        #expect(decide("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:123456789012:function:webhook") == .deny)
        #expect(decide("lambda:GetFunction", "arn:aws:lambda:us-east-1:123456789012:function:webhook") == .allow)
        #expect(AccessPolicy(document: "[]") == nil)
        #expect(AccessPolicy(document: #"{"Statement":[{"Action":"*"}]}"#) == nil, "no Effect")
    }

    @Test(arguments: [
        ("*", "", true), ("*", "anything", true), ("a*c", "abbbc", true), ("a*c", "abbbd", false),
        ("a?c", "abc", true), ("a?c", "ac", false), ("*:live", "fn:live", true), ("ab", "abc", false),
        ("a**b", "ab", true),
    ])
    func wildcards(pattern: String, text: String, matches: Bool) {
        #expect(Wildcard.matches(pattern, text) == matches)
    }
}
