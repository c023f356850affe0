import Testing

@testable import ControlAPI

/// The write operations' routes and body limits (in a file without Foundation, whose `Operation` would shadow the
/// router's).
struct WriteRoutesTests {
    @Test func routesOfTheWrites() {
        let cases: [(String, String, Operation)] = [
            ("POST", "/2015-03-31/functions", .createFunction),
            ("PUT", "/2015-03-31/functions/f/code", .updateFunctionCode),
            ("PUT", "/2015-03-31/functions/f/configuration", .updateFunctionConfiguration),
            ("DELETE", "/2015-03-31/functions/f?Qualifier=2", .deleteFunction),
            ("POST", "/2015-03-31/functions/f/versions", .publishVersion),
            ("POST", "/2015-03-31/functions/f/aliases", .createAlias),
            ("PUT", "/2015-03-31/functions/f/aliases/live", .updateAlias),
            ("DELETE", "/2015-03-31/functions/f/aliases/live", .deleteAlias),
            ("POST", "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af", .tagResource),
            (
                "DELETE", "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af?tagKeys=a",
                .untagResource
            ),
            ("GET", "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af", .listTags),
        ]
        for (method, target, operation) in cases {
            #expect(Router.match(method: method, target: target)?.operation == operation, "\(method) \(target)")
        }
        #expect(Operation.createFunction.maximumBodyBytes == 70_167_211)
        #expect(Operation.updateFunctionConfiguration.maximumBodyBytes == 64 * 1024)
    }
}
