import ALBEvents
import NIOCore
import Routing

/// Sanity checks run before anything is measured, so that no benchmark silently times an error path or a
/// fixture that lost its shape: each operation must produce the output a correct translation gives.
package enum Checks {
    package static func verifyAll() {
        var random = SystemRandomNumberGenerator()

        let single = Operations.encode(
            Fixtures.browserGet, body: nil, options: Operations.singleValueOptions, random: &random)
        expect(single.event, contains: #""queryStringParameters":{"color":"blue","size":"42","sort":"price"}"#)
        expect(single.event, contains: #""headers":{"accept":"#)
        expect(single.event, contains: #""host":"shop.example.com:8080""#)
        expect(single.event, contains: #""x-amzn-trace-id":"\#(single.trace)""#)
        expect(single.event, contains: #""body":"","isBase64Encoded":false}"#)

        let multi = Operations.encode(
            Fixtures.browserGet, body: nil, options: Operations.multiValueOptions, random: &random)
        expect(multi.event, contains: #""multiValueQueryStringParameters":{"color":["blue"],"size":["42"]"#)
        expect(multi.event, contains: #""multiValueHeaders":{"accept":["#)

        let post = Operations.encode(
            Fixtures.jsonPost, body: Fixtures.jsonPostBody, options: Operations.singleValueOptions, random: &random)
        expect(post.event, contains: #""httpMethod":"POST""#)
        expect(post.event, contains: #""body":"{\"customer\":\"c-000417\""#)
        expect(post.event, contains: #""isBase64Encoded":false}"#)

        for multiValue in [false, true] {
            let response = Operations.decode(
                Fixtures.typicalResult(multiValue: multiValue), multiValue: multiValue, random: &random)
            check(response.status == 200, "typical result: status \(response.status)")
            check(response.headers.count == 3, "typical result: \(response.headers.count) headers, expected 3")
            check(
                response.body.getString(at: response.body.readerIndex, length: response.body.readableBytes)
                    == Fixtures.htmlBody,
                "typical result (multiValue: \(multiValue)): body differs from the HTML fixture")
        }
        let binary = Operations.decode(Fixtures.base64Result, multiValue: false, random: &random)
        check(
            binary.body.getBytes(at: binary.body.readerIndex, length: binary.body.readableBytes)
                == Fixtures.binaryBody,
            "base64 result: body differs from the binary fixture")

        let action = Operations.route(RouterFixture.facts)
        check(
            action == .forward(ForwardAction(targetGroupName: RouterFixture.matchingTargetGroup)),
            "router picked \(action), expected the last rule's forward to '\(RouterFixture.matchingTargetGroup)'")
        check(
            Operations.router.evaluationOrder.count == RouterFixture.ruleCount,
            "router has \(Operations.router.evaluationOrder.count) rules, expected \(RouterFixture.ruleCount)")
    }

    private static func expect(_ event: ByteBuffer, contains fragment: String) {
        let text = event.getString(at: event.readerIndex, length: event.readableBytes) ?? ""
        check(text.contains(fragment), "event lacks \(fragment)\nevent: \(text.prefix(600))")
    }

    private static func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fatalError("bench/micro check failed: \(message())") }
    }
}
