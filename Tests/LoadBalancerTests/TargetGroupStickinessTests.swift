import AlbatrossTestKit
import NIOCore
import Routing
import Testing

@testable import LoadBalancer

/// Target-group stickiness (`AWSALBTG` / `AWSALBTGCORS`, rollouts.md §3.2–§3.3): the cookie alone, then a
/// forward action with two weighted groups on the connection pipeline.
struct TargetGroupStickinessTests {
    static let now = Connection.clock

    static func cookieHeader(_ value: String, name: String = "AWSALBTG") -> [(name: String, value: String)] {
        [("Cookie", "session=abc; \(name)=\(value); theme=dark")]
    }

    /// The cookie value of the first `Set-Cookie: AWSALBTG=...`.
    static func value(from headers: [(name: String, value: String)]) -> String {
        let cookie = headers.first { $0.value.hasPrefix("AWSALBTG=") }?.value ?? ""
        return String(cookie.dropFirst("AWSALBTG=".count).prefix { $0 != ";" })
    }

    // MARK: the cookie

    @Test func aCookieNamesItsGroupInItsScopeUntilItExpires() throws {
        let stickiness = TargetGroupStickiness()
        let headers = stickiness.setCookieHeaders(targetGroup: "green", scope: "80/10", now: Self.now, duration: 60)
        #expect(headers.map(\.name) == ["Set-Cookie", "Set-Cookie"])
        // 1_700_000_060 is Tue, 14 Nov 2023 22:14:20 GMT; Expires, never Max-Age.
        #expect(headers[0].value.hasSuffix("; Expires=Tue, 14 Nov 2023 22:14:20 GMT; Path=/"))
        #expect(headers[1].value.hasPrefix("AWSALBTGCORS="))
        #expect(headers[1].value.hasSuffix("; Expires=Tue, 14 Nov 2023 22:14:20 GMT; Path=/; SameSite=None; Secure"))
        let value = Self.value(from: headers)
        #expect(value.allSatisfy { $0.isLetter || $0.isNumber || "+/=".contains($0) }, "standard base64: \(value)")
        #expect(!value.contains("green"), "sealed, not readable")
        #expect(headers[1].value.contains("=\(value);"), "both cookies carry the same value")

        let cookie = Self.cookieHeader(value)
        #expect(stickiness.lookup(headers: cookie, scope: "80/10", now: Self.now) == .targetGroup("green"))
        #expect(stickiness.lookup(headers: cookie, scope: "80/10", now: Self.now + 59) == .targetGroup("green"))
        #expect(stickiness.lookup(headers: cookie, scope: "80/10", now: Self.now + 60) == .invalid, "expired")
        #expect(stickiness.lookup(headers: cookie, scope: "80/20", now: Self.now) == .invalid, "another rule's")
        #expect(TargetGroupStickiness().lookup(headers: cookie, scope: "80/10", now: Self.now) == .invalid, "key")
        #expect(
            stickiness.lookup(headers: Self.cookieHeader(value, name: "AWSALBTGCORS"), scope: "80/10", now: Self.now)
                == .targetGroup("green"), "the CORS cookie alone is enough")
    }

    @Test func aForgedTamperedOrURLEncodedCookieIsInvalidAndNoneIsAbsent() throws {
        let stickiness = TargetGroupStickiness()
        let value = Self.value(
            from: stickiness.setCookieHeaders(targetGroup: "blue", scope: "s", now: Self.now, duration: 600))
        var tampered = Array(value.utf8)
        tampered[20] = tampered[20] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let encoded = value.replacingOccurrences(of: "+", with: "%2B").replacingOccurrences(of: "/", with: "%2F")
            .replacingOccurrences(of: "=", with: "%3D")
        for bad in [String(decoding: tampered, as: UTF8.self), encoded, "blue", "", "Ymx1ZQ=="] {
            #expect(stickiness.lookup(headers: Self.cookieHeader(bad), scope: "s", now: Self.now) == .invalid, "\(bad)")
        }
        #expect(stickiness.lookup(headers: [("Cookie", "AWSALB=x; other=1")], scope: "s", now: Self.now) == .absent)
        #expect(stickiness.lookup(headers: [], scope: "s", now: Self.now) == .absent)
    }

    // MARK: a forward action with stickiness

    static let groups = [
        TargetGroup(name: "blue", arn: Connection.targetGroupARN, functionName: "blue-fn"),
        TargetGroup(name: "green", arn: Connection.targetGroupARN, functionName: "green-fn"),
        TargetGroup(name: "red", arn: Connection.targetGroupARN, functionName: "red-fn"),
    ]

    static func listener(
        _ weights: [(String, Int)], stickiness: TargetGroupStickiness, seconds: Int? = 3600
    ) -> ListenerContext {
        let forward = ForwardAction(
            targetGroups: weights.map { .init(targetGroupName: $0.0, weight: $0.1) }, stickinessDurationSeconds: seconds
        )
        return ListenerContext(
            configuration: ListenerConfiguration(
                port: 8080, protocol: .http, rules: [], defaultAction: .forward(forward)),
            boundPort: 8080, targetGroups: groups, attributes: LoadBalancerAttributes(), stickiness: stickiness)
    }

    /// Sends `count` requests (with `cookie` when given) and returns the functions invoked and the last answer.
    static func send(
        _ count: Int, cookie: String?, on listener: ListenerContext, seed: UInt64 = 7
    ) throws -> (functions: [String], last: RawHTTPClient.Response) {
        let connection = try Connection(listener: listener, seed: seed)
        let extra = cookie.map { "Cookie: theme=dark; AWSALBTG=\($0)\r\n" } ?? ""
        var responses: [RawHTTPClient.Response] = []
        for _ in 0..<count {
            try connection.send(ALBRequestHandlerTests.get("/", extra))
            responses += try connection.responses()
        }
        #expect(responses.map(\.status) == Array(repeating: 200, count: count))
        return (connection.service.requests.map(\.functionName), try #require(responses.last))
    }

    @Test func aClientWithTheCookieStaysOnItsGroupAndEveryAnswerExtendsIt() throws {
        let stickiness = TargetGroupStickiness()
        let listener = Self.listener([("blue", 1), ("green", 1)], stickiness: stickiness)
        // Without a cookie the weights apply per request (both groups are chosen over 40 requests)...
        let weighted = try Self.send(40, cookie: nil, on: listener)
        #expect(Set(weighted.functions) == ["blue-fn", "green-fn"])
        // ... and each answer carries both cookies, naming the group that answered it.
        let first = try Self.send(1, cookie: nil, on: listener)
        #expect(first.last.headers("Set-Cookie").count == 2)
        #expect(first.last.headers("Set-Cookie")[1].contains("SameSite=None; Secure"))
        let cookie = Self.value(from: first.last.headers)
        // With it, every request goes where the first one went, and is told so again (Expires pushed forward).
        let sticky = try Self.send(40, cookie: cookie, on: listener)
        #expect(Set(sticky.functions) == [first.functions[0]])
        #expect(sticky.last.headers("Set-Cookie").count == 2)
        #expect(
            stickiness.lookup(
                headers: Self.cookieHeader(Self.value(from: sticky.last.headers)), scope: "8080/default",
                now: Self.now) == .targetGroup(first.functions[0] == "blue-fn" ? "blue" : "green"))
    }

    @Test func aWeightChangeMovesOnlyClientsWithoutTheCookieAndWeightZeroKeepsItsStickyClients() throws {
        let stickiness = TargetGroupStickiness()
        let before = Self.listener([("blue", 1), ("green", 0)], stickiness: stickiness)
        let onBlue = Self.value(from: try Self.send(1, cookie: nil, on: before).last.headers)
        // Blue's weight drops to 0 (a rollout moved everyone to green): new clients never reach blue ...
        let after = Self.listener([("blue", 0), ("green", 1)], stickiness: stickiness)
        #expect(Set(try Self.send(30, cookie: nil, on: after).functions) == ["green-fn"])
        // ... while the client that had the cookie stays there.
        #expect(Set(try Self.send(30, cookie: onBlue, on: after).functions) == ["blue-fn"])
    }

    @Test func aCookieForAGroupNoLongerInTheActionOrAnInvalidOneIsReplacedByAWeightedChoice() throws {
        let stickiness = TargetGroupStickiness()
        let onBlue = Self.value(
            from: try Self.send(1, cookie: nil, on: Self.listener([("blue", 1), ("green", 0)], stickiness: stickiness))
                .last.headers)
        let withoutBlue = Self.listener([("green", 0), ("red", 1)], stickiness: stickiness)
        for cookie in [onBlue, "not-a-cookie", onBlue.replacingOccurrences(of: "=", with: "%3D")] {
            let answer = try Self.send(1, cookie: cookie, on: withoutBlue)
            #expect(answer.functions == ["red-fn"])
            let reissued = Self.value(from: answer.last.headers)
            #expect(
                stickiness.lookup(headers: Self.cookieHeader(reissued), scope: "8080/default", now: Self.now)
                    == .targetGroup("red"))
        }
    }

    @Test func anActionWithoutStickinessSetsNoCookieAndIgnoresOne() throws {
        let stickiness = TargetGroupStickiness()
        let onBlue = Self.value(
            from: try Self.send(1, cookie: nil, on: Self.listener([("blue", 1), ("green", 0)], stickiness: stickiness))
                .last.headers)
        let plain = Self.listener([("blue", 0), ("green", 1)], stickiness: stickiness, seconds: nil)
        let answer = try Self.send(10, cookie: onBlue, on: plain)
        #expect(Set(answer.functions) == ["green-fn"])
        #expect(answer.last.headers("Set-Cookie").isEmpty)
    }
}
