import Testing

@testable import Routing

struct RedirectRenderingTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var action: RedirectAction
        var listener: ListenerProtocol = .http
        var host = "example.com"
        var port = 80
        var path = "/a/b"
        var query: String? = "x=1&y=2"
        var status: Int
        var location: String
        var testDescription: String { location }
    }

    static let cases: [Case] = [
        // The documented HTTP→HTTPS redirect; a real ALB writes the port even when it is the default.
        Case(
            action: RedirectAction(
                protocol: "HTTPS", host: "#{host}", port: "443", path: "/#{path}", query: "#{query}", statusCode: 301
            ),
            status: 301, location: "https://example.com:443/a/b?x=1&y=2"
        ),
        Case(
            action: RedirectAction(protocol: "HTTPS", port: "443", statusCode: 301), query: nil,
            status: 301, location: "https://example.com:443/a/b"
        ),
        // Components left out keep the original values.
        Case(
            action: RedirectAction(host: "new.example.org", statusCode: 302), port: 8080,
            status: 302, location: "http://new.example.org:8080/a/b?x=1&y=2"),
        Case(
            action: RedirectAction(path: "/new", statusCode: 301), status: 301,
            location: "http://example.com:80/new?x=1&y=2"),
        // Placeholders inside larger values.
        Case(
            action: RedirectAction(host: "www.#{host}", path: "/v2/#{path}", statusCode: 301), path: "/items/7",
            query: nil, status: 301, location: "http://www.example.com:80/v2/items/7"),
        Case(
            action: RedirectAction(
                path: "/#{host}/#{port}/#{path}", query: "from=#{protocol}&#{query}", statusCode: 302),
            listener: .https, port: 443, path: "/p", query: "q=1",
            status: 302, location: "https://example.com:443/example.com/443/p?from=https&q=1"),
        // An empty query drops the '?'; an explicit query replaces the original.
        Case(
            action: RedirectAction(path: "/x", query: "", statusCode: 301), status: 301,
            location: "http://example.com:80/x"),
        Case(
            action: RedirectAction(path: "/x", query: "a=b", statusCode: 301), status: 301,
            location: "http://example.com:80/x?a=b"),
        Case(
            action: RedirectAction(path: "/x", query: "#{query}", statusCode: 301), query: nil, status: 301,
            location: "http://example.com:80/x"),
        // #{protocol} keeps the listener's protocol, written lower-case.
        Case(
            action: RedirectAction(protocol: "#{protocol}", port: "8443", statusCode: 301), listener: .https,
            port: 443, query: nil, status: 301, location: "https://example.com:8443/a/b"),
        // The root path: #{path} is empty.
        Case(
            action: RedirectAction(protocol: "HTTPS", port: "443", path: "/#{path}", statusCode: 301), path: "/",
            query: nil, status: 301, location: "https://example.com:443/"),
        // Unknown placeholders are left as written.
        Case(
            action: RedirectAction(path: "/#{nope}", statusCode: 301), query: nil, status: 301,
            location: "http://example.com:80/#{nope}"),
    ]

    @Test(arguments: cases)
    func renders(_ example: Case) {
        let result = ListenerRouter.renderRedirect(
            example.action, protocol: example.listener, host: example.host, port: example.port,
            path: example.path, query: example.query
        )
        #expect(result.status == example.status)
        #expect(result.location == example.location)
    }

    @Test func instanceMethodMatchesStatic() {
        let router = ListenerRouter(
            ListenerConfiguration(port: 0, defaultAction: .forward(.init(targetGroupName: "d"))))
        let action = RedirectAction(protocol: "HTTPS", port: "443", statusCode: 301)
        let result = router.renderRedirect(action, protocol: .http, host: "h.test", port: 80, path: "/", query: nil)
        #expect(result.location == "https://h.test:443/")
    }
}
