import Testing

@testable import Routing

struct WildcardPatternTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var pattern: String
        var text: String
        var caseInsensitive = false
        var escapes = false
        var matches: Bool
        var testDescription: String { "\(pattern) ~ \(text) → \(matches)" }
    }

    static let cases: [Case] = [
        Case(pattern: "/api/*", text: "/api/", matches: true),
        Case(pattern: "/api/*", text: "/api/v1/users", matches: true),  // * crosses '/'
        Case(pattern: "/api/*", text: "/api", matches: false),
        Case(pattern: "/api*", text: "/api", matches: true),  // * matches zero characters
        Case(pattern: "*", text: "", matches: true),
        Case(pattern: "", text: "", matches: true),
        Case(pattern: "", text: "a", matches: false),
        Case(pattern: "?", text: "", matches: false),
        Case(pattern: "?", text: "a", matches: true),
        Case(pattern: "?", text: "ab", matches: false),
        Case(pattern: "/img/?.png", text: "/img/a.png", matches: true),
        Case(pattern: "/img/?.png", text: "/img/ab.png", matches: false),
        Case(pattern: "/v?/*", text: "/v2/x", matches: true),
        Case(pattern: "*.jpg", text: "/a/b/c.jpg", matches: true),
        Case(pattern: "*.jpg", text: "/a/b/c.jpeg", matches: false),
        Case(pattern: "/a*b*c", text: "/aXbYc", matches: true),
        Case(pattern: "/a*b*c", text: "/aXbYcZ", matches: false),
        Case(pattern: "/a*b*c", text: "/abcbc", matches: true),
        Case(pattern: "a**b", text: "ab", matches: true),
        Case(pattern: "*a", text: "aaaa", matches: true),
        Case(pattern: "*ab", text: "aaab", matches: true),
        Case(pattern: "/API/*", text: "/api/x", matches: false),  // case-sensitive
        Case(pattern: "/API/*", text: "/api/x", caseInsensitive: true, matches: true),
        Case(pattern: "*.Example.COM", text: "www.example.com", caseInsensitive: true, matches: true),
        Case(pattern: "?", text: "é", matches: true),  // one character, two UTF-8 bytes
        Case(pattern: "*?", text: "éé", matches: true),
        Case(pattern: "*??x", text: "éx", matches: false),  // a star never swallows half a character
        Case(pattern: "*é?", text: "aéb", matches: true),
        Case(pattern: "a\\*", text: "a*", escapes: true, matches: true),
        Case(pattern: "a\\*", text: "abc", escapes: true, matches: false),
        Case(pattern: "a\\?", text: "a?", escapes: true, matches: true),
        Case(pattern: "a\\?", text: "ab", escapes: true, matches: false),
        Case(pattern: "a\\*", text: "a\\xyz", escapes: false, matches: true),  // without escapes '\' is literal
        Case(pattern: "a\\b", text: "a\\b", escapes: true, matches: true),  // only \* and \? are escapes
    ]

    @Test(arguments: cases)
    func matching(_ example: Case) {
        let pattern = WildcardPattern(
            example.pattern, caseInsensitive: example.caseInsensitive, backslashEscapes: example.escapes
        )
        #expect(pattern.matches(example.text) == example.matches)
    }

    @Test func wildcardCountIgnoresEscapes() {
        #expect(WildcardPattern("*a?b**", caseInsensitive: false).wildcardCount == 4)
        #expect(WildcardPattern("\\*a\\?", caseInsensitive: true, backslashEscapes: true).wildcardCount == 0)
    }

    /// `*a*a*a*…b` against a long run of `a`s is the classic exponential case for recursive matchers.
    @Test func pathologicalPatternStaysCheap() {
        let pattern = WildcardPattern(String(repeating: "*a", count: 20) + "*b", caseInsensitive: false)
        let text = String(repeating: "a", count: 20_000)
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            #expect(!pattern.matches(text))
            #expect(pattern.matches(text + "b"))
        }
        // Linear-ish work finishes in milliseconds; an exponential matcher would not finish at all.
        #expect(elapsed < .seconds(2))
    }
}
