/// The frozen, compiled form of one listener's rules: what the hot path consults for every request.
///
/// Built once from a ``ListenerConfiguration`` (patterns compiled, CIDRs parsed, rules sorted by ascending
/// priority) and never mutated afterwards, so any number of event loops can read it without a lock; a
/// configuration change builds a new router and swaps the reference.
public struct ListenerRouter: Sendable {
    /// The listener protocol, needed by redirects (`#{protocol}`).
    public let listenerProtocol: ListenerProtocol
    /// Compiled rules in evaluation order (ascending priority).
    let rules: [CompiledRule]
    /// The default rule's action.
    public let defaultAction: RuleAction

    /// Compiles `configuration`. Values that do not parse (which the configuration loader refuses earlier)
    /// make their condition value never match, so a bad value can only make a rule narrower.
    public init(_ configuration: ListenerConfiguration) {
        self.listenerProtocol = configuration.protocol
        self.defaultAction = configuration.defaultAction
        self.rules = configuration.rules
            .sorted { $0.priority < $1.priority }
            .map(CompiledRule.init)
    }

    /// The priorities of the rules in the order they are evaluated.
    public var evaluationOrder: [Int] { rules.map(\.priority) }

    /// The action of the first rule (lowest priority number) whose conditions all match, else the default.
    /// The host name of a Host header value: without its port, brackets kept for IPv6 (`[::1]`). The port is
    /// ignored by host-header conditions, and redirects put the listener's port back.
    public static func hostName(fromHostHeader host: String) -> Substring {
        RoutingText.hostWithoutPort(host)
    }

    public func route(_ facts: RequestFacts) -> RuleAction {
        matchingRule(facts).action
    }

    /// The action and the priority of the rule that chose it (nil: the default action).
    public func matchingRule(_ facts: RequestFacts) -> (action: RuleAction, priority: Int?) {
        var query: [QueryPair]? = nil
        for rule in rules where rule.matches(facts, query: &query) {
            return (rule.action, rule.priority)
        }
        return (defaultAction, nil)
    }
}

/// One rule with its conditions compiled.
struct CompiledRule: Sendable {
    let priority: Int
    let conditions: [CompiledCondition]
    let action: RuleAction

    init(_ rule: ListenerRule) {
        self.priority = rule.priority
        self.conditions = rule.conditions.map(CompiledCondition.init)
        self.action = rule.action
    }

    /// Conditions are ANDed; `query` caches the parsed query string across rules of one request.
    func matches(_ facts: RequestFacts, query: inout [QueryPair]?) -> Bool {
        for condition in conditions where !condition.matches(facts, query: &query) {
            return false
        }
        return true
    }
}

/// One condition compiled; the values inside it are ORed.
enum CompiledCondition: Sendable {
    case hostHeader([WildcardPattern])
    case pathPattern([WildcardPattern])
    case httpRequestMethod([String])
    /// Header name lower-cased.
    case httpHeader(name: String, values: [WildcardPattern])
    case queryString([(key: WildcardPattern?, value: WildcardPattern)])
    case sourceIP([IPAddressBlock])

    init(_ condition: RuleCondition) {
        switch condition {
        case .hostHeader(let values):
            self = .hostHeader(values.map { WildcardPattern($0, caseInsensitive: true) })
        case .pathPattern(let values):
            self = .pathPattern(values.map { WildcardPattern($0, caseInsensitive: false) })
        case .httpRequestMethod(let values):
            self = .httpRequestMethod(values)
        case .httpHeader(let name, let values):
            self = .httpHeader(
                name: RoutingText.asciiLowercased(name),
                values: values.map { WildcardPattern($0, caseInsensitive: true) }
            )
        case .queryString(let pairs):
            self = .queryString(
                pairs.map { pair in
                    (
                        key: pair.key.map { WildcardPattern($0, caseInsensitive: true, backslashEscapes: true) },
                        value: WildcardPattern(pair.value, caseInsensitive: true, backslashEscapes: true)
                    )
                }
            )
        case .sourceIP(let blocks):
            self = .sourceIP(blocks.compactMap { IPAddressBlock($0) })
        }
    }

    func matches(_ facts: RequestFacts, query: inout [QueryPair]?) -> Bool {
        switch self {
        case .hostHeader(let patterns):
            guard let host = facts.host else { return false }
            let name = RoutingText.hostWithoutPort(host)
            return patterns.contains { $0.matches(name) }
        case .pathPattern(let patterns):
            return patterns.contains { $0.matches(facts.rawPath) }
        case .httpRequestMethod(let methods):
            return methods.contains(facts.method)
        case .httpHeader(let name, let patterns):
            for header in facts.headers where RoutingText.asciiEqualsIgnoringCase(header.name, lowercased: name) {
                if patterns.contains(where: { $0.matches(header.value) }) { return true }
            }
            return false
        case .queryString(let conditions):
            if query == nil { query = QueryPair.parse(facts.rawQuery) }
            let pairs = query ?? []
            for condition in conditions {
                for pair in pairs {
                    if let key = condition.key, !(key.matches(pair.rawKey) || key.matches(pair.decodedKey)) {
                        continue
                    }
                    if condition.value.matches(pair.rawValue) || condition.value.matches(pair.decodedValue) {
                        return true
                    }
                }
            }
            return false
        case .sourceIP(let blocks):
            guard let address = IPAddress(facts.sourceAddress) else { return false }
            return blocks.contains { $0.contains(address) }
        }
    }
}

/// One `key=value` segment of a query string in both its raw and its percent-decoded form.
struct QueryPair: Sendable, Hashable {
    var rawKey: Substring
    var rawValue: Substring
    var decodedKey: String
    var decodedValue: String

    /// Splits on `&`, then on the first `=`; a segment without `=` has an empty value; empty segments are skipped.
    static func parse(_ rawQuery: String?) -> [QueryPair] {
        guard let rawQuery, !rawQuery.isEmpty else { return [] }
        var pairs: [QueryPair] = []
        for segment in rawQuery.split(separator: "&", omittingEmptySubsequences: true) {
            let key: Substring
            let value: Substring
            if let equals = segment.firstIndex(of: "=") {
                key = segment[..<equals]
                value = segment[segment.index(after: equals)...]
            } else {
                key = segment
                value = segment[segment.endIndex...]
            }
            pairs.append(
                QueryPair(
                    rawKey: key, rawValue: value,
                    decodedKey: RoutingText.formDecoded(key), decodedValue: RoutingText.formDecoded(value)
                )
            )
        }
        return pairs
    }
}

/// Small ASCII text helpers shared by the router and the validators (no Foundation in this module).
enum RoutingText {
    static func asciiLowercased(_ text: some StringProtocol) -> String {
        String(decoding: text.utf8.map { WildcardPattern.lower($0) }, as: UTF8.self)
    }

    static func asciiEqualsIgnoringCase(_ text: String, lowercased: String) -> Bool {
        text.utf8.count == lowercased.utf8.count
            && zip(text.utf8, lowercased.utf8).allSatisfy { WildcardPattern.lower($0) == $1 }
    }

    /// `example.com:8080` → `example.com`; `[::1]:8080` → `[::1]`; a bare IPv6 literal is left alone.
    static func hostWithoutPort(_ host: String) -> Substring {
        // Byte-wise: the separators are ASCII, and walking Characters costs more than the match itself.
        let utf8 = host.utf8
        if utf8.first == UInt8(ascii: "[") {
            if let close = utf8.firstIndex(of: UInt8(ascii: "]")) { return host[...close] }
            return host[...]
        }
        guard let colon = utf8.lastIndex(of: UInt8(ascii: ":")), utf8.firstIndex(of: UInt8(ascii: ":")) == colon
        else { return host[...] }
        guard utf8[utf8.index(after: colon)...].allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return host[...] }
        return host[..<colon]
    }

    /// Percent-decodes `text`, turning `+` into a space (HTML form encoding). Malformed escapes stay as they
    /// are; bytes that are not valid UTF-8 become U+FFFD.
    static func formDecoded(_ text: Substring) -> String {
        let bytes = Array(text.utf8)
        guard bytes.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) else {
            return String(text)
        }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "+") {
                output.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), index + 2 < bytes.count,
                let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2])
            {
                output.append(high << 4 | low)
                index += 2
            } else {
                output.append(byte)
            }
            index += 1
        }
        return String(decoding: output, as: UTF8.self)
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
