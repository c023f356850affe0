import Testing

@testable import ControlAPI

/// Method + exact date-prefixed path → operation; path segments decoded once; queries decoded.
struct RouterTests {
    @Test func matchesEachOperation() {
        let cases: [(String, String, Operation)] = [
            ("GET", "/2015-03-31/functions", .listFunctions),
            ("GET", "/2015-03-31/functions/", .listFunctions),
            ("GET", "/2015-03-31/functions/my-fn", .getFunction),
            ("GET", "/2015-03-31/functions/my-fn/configuration", .getFunctionConfiguration),
            ("GET", "/2015-03-31/functions/my-fn/versions", .listVersionsByFunction),
            ("GET", "/2015-03-31/functions/my-fn/aliases", .listAliases),
            ("GET", "/2015-03-31/functions/my-fn/aliases/live", .getAlias),
            ("POST", "/2015-03-31/functions/my-fn/invocations", .invoke),
            ("POST", "/2015-03-31/functions/function/invocations", .emulatorInvoke),
            ("GET", "/2016-08-19/account-settings", .getAccountSettings),
            ("GET", "/2016-08-19/account-settings/", .getAccountSettings),
            ("PUT", "/2017-10-31/functions/f/concurrency", .putFunctionConcurrency),
            ("GET", "/2019-09-30/functions/f/concurrency", .getFunctionConcurrency),
            ("DELETE", "/2017-10-31/functions/f/concurrency", .deleteFunctionConcurrency),
            ("PUT", "/2019-09-30/functions/f/provisioned-concurrency?Qualifier=1", .putProvisionedConcurrencyConfig),
            ("GET", "/2019-09-30/functions/f/provisioned-concurrency?Qualifier=1", .getProvisionedConcurrencyConfig),
            ("GET", "/2019-09-30/functions/f/provisioned-concurrency?List=ALL", .listProvisionedConcurrencyConfigs),
            (
                "DELETE", "/2019-09-30/functions/f/provisioned-concurrency?Qualifier=1",
                .deleteProvisionedConcurrencyConfig
            ),
            ("POST", "/2018-10-31/layers/l/versions", .publishLayerVersion),
            ("GET", "/2018-10-31/layers/l/versions", .listLayerVersions),
            ("GET", "/2018-10-31/layers/l/versions/3", .getLayerVersion),
            ("DELETE", "/2018-10-31/layers/l/versions/3", .deleteLayerVersion),
            ("GET", "/2018-10-31/layers", .listLayers),
            ("GET", "/2018-10-31/layers?find=LayerVersion&Arn=x", .getLayerVersionByArn),
        ]
        for (method, target, operation) in cases {
            #expect(Router.match(method: method, target: target)?.operation == operation, "\(method) \(target)")
        }
    }

    @Test func refusesOtherMethodsAndPrefixes() {
        #expect(Router.match(method: "DELETE", target: "/2015-03-31/functions/my-fn/configuration") == nil)
        #expect(Router.match(method: "GET", target: "/2016-08-19/functions/my-fn") == nil)
        #expect(Router.match(method: "GET", target: "/2015-03-31/functions/my-fn/nothing") == nil)
        #expect(Router.match(method: "GET", target: "2015-03-31/functions") == nil)
        let error = try? ControlAPI.route(method: "PATCH", target: "/2015-03-31/functions/f/code").get()
        #expect(error == nil)
        if case .failure(let failure) = ControlAPI.route(method: "PATCH", target: "/2015-03-31/functions/f/code?x=1") {
            #expect(failure.type == "UnknownOperationException")
            #expect(failure.status == 404)
            #expect(failure.message.contains("PATCH /2015-03-31/functions/f/code"))
        } else {
            Issue.record("routed")
        }
    }

    @Test func decodesPathSegmentsAndQueries() throws {
        let arn = "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Amy-fn%3Aprod"
        let match = try #require(
            Router.match(method: "POST", target: "/2015-03-31/functions/\(arn)/invocations?Qualifier=%24LATEST&x"))
        #expect(match.parameters["FunctionName"] == "arn:aws:lambda:us-east-1:123456789012:function:my-fn:prod")
        #expect(match.query("Qualifier") == "$LATEST")
        #expect(match.query("x") == "")
        #expect(match.query("y") == nil)
    }

    @Test func operationsBoundTheirBodies() {
        #expect(Operation.invoke.maximumBodyBytes == 6_291_456)
        #expect(Operation.getFunction.maximumBodyBytes == 64 * 1024)
        #expect(
            APIError.tooLarge(limit: 6_291_456, operation: "InvokeFunction").body
                == #"{"Message":"Request must be smaller than 6291456 bytes for the InvokeFunction operation"}"#)
    }
}
