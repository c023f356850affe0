import ALBEvents
import AlbatrossCrypto
import Routing

/// Target-group stickiness of a forward action, as an ALB does it (rollouts.md §3.2–§3.3).
///
/// The first answer of a forward action with stickiness sets two cookies naming the chosen target group:
/// `AWSALBTG` and, for cross-site requests, `AWSALBTGCORS` (`SameSite=None; Secure`), both with `Expires` (never
/// `Max-Age`) the duration ahead, re-extended on every answer. A request carrying a valid cookie goes to that
/// group whatever the weights (weight 0 included), so a weight change moves only clients without one. The value
/// is AES-256-GCM sealed (standard base64, like AWS's): it cannot be read or forged, names the listener and rule
/// it belongs to (a cookie from another rule's action counts as absent), and carries its own expiry.
///
/// Cases the reference leaves open, and what Albatross does: a cookie that does not decode, fails its check or
/// is URL-encoded (AWS's `AWSALBTGCookieInvalid`), an expired one, or one naming a group no longer in the action
/// is ignored: the request is weighted and the cookie reissued. The key lives as long as the server process, so
/// cookies from before a restart are reissued too.
struct TargetGroupStickiness: Sendable {
    static let cookieName = "AWSALBTG"
    static let corsCookieName = "AWSALBTGCORS"

    /// What a request's cookies say.
    enum Lookup: Equatable {
        case absent
        case targetGroup(String)
        /// Present but not usable: undecodable, URL-encoded, forged, expired or of another scope.
        case invalid
    }

    private let cipher: AESGCM

    init(cipher: AESGCM = .withRandomKey()) {
        self.cipher = cipher
    }

    /// The scope a cookie is bound to: the listener's port and the rule (`default` for the default action).
    static func scope(port: Int, rule: Int?) -> String {
        "\(port)/\(rule.map(String.init) ?? "default")"
    }

    /// The target group the request's `AWSALBTG` (else `AWSALBTGCORS`) cookie names, if valid at `now`.
    func lookup(headers: [(name: String, value: String)], scope: String, now: Int) -> Lookup {
        guard let value = Self.cookie(Self.cookieName, in: headers) ?? Self.cookie(Self.corsCookieName, in: headers)
        else { return .absent }
        guard let sealed = ALBBase64.decode(value),
            let plain = cipher.open(sealed, associatedData: Self.associatedData(scope: scope)),
            let newline = plain.firstIndex(of: UInt8(ascii: "\n")),
            let expires = Int(String(decoding: plain[..<newline], as: UTF8.self)),
            expires > now
        else { return .invalid }
        return .targetGroup(String(decoding: plain[(newline + 1)...], as: UTF8.self))
    }

    /// The two `Set-Cookie` headers naming `targetGroup` until `now + duration`.
    func setCookieHeaders(
        targetGroup: String, scope: String, now: Int, duration: Int
    ) -> [(name: String, value: String)] {
        let expires = now + duration
        guard
            let sealed = cipher.seal(
                Array("\(expires)\n\(targetGroup)".utf8), associatedData: Self.associatedData(scope: scope))
        else { return [] }
        let value = ALBBase64.encode(sealed)
        let date = HTTPDateCache.format(epochSeconds: expires)
        return [
            ("Set-Cookie", "\(Self.cookieName)=\(value); Expires=\(date); Path=/"),
            ("Set-Cookie", "\(Self.corsCookieName)=\(value); Expires=\(date); Path=/; SameSite=None; Secure"),
        ]
    }

    private static func associatedData(scope: String) -> [UInt8] {
        Array("albatross-awsalbtg:\(scope)".utf8)
    }

    /// The value of cookie `name` in the request's `Cookie` headers (the last one when it repeats).
    static func cookie(_ name: String, in headers: [(name: String, value: String)]) -> Substring? {
        var found: Substring?
        for header in headers where header.name.utf8.count == 6 && header.name.lowercased() == "cookie" {
            for pair in header.value.split(separator: ";") {
                let trimmed = pair.drop { $0 == " " || $0 == "\t" }
                guard let equals = trimmed.firstIndex(of: "=") else { continue }
                if trimmed[..<equals] == name {
                    var value = trimmed[trimmed.index(after: equals)...]
                    while let last = value.last, last == " " || last == "\t" { value = value.dropLast() }
                    found = value
                }
            }
        }
        return found
    }
}

extension TargetGroupStickiness {
    /// The group of a forward action for a request: its valid cookie's group when that is still in the action,
    /// else one drawn by weight. `reissue` is always true for an action with stickiness (every answer extends it).
    func select(
        _ forward: ForwardAction, headers: [(name: String, value: String)], scope: String, now: Int,
        random: inout some RandomNumberGenerator
    ) -> (targetGroup: String, lookup: Lookup) {
        let lookup = self.lookup(headers: headers, scope: scope, now: now)
        if case .targetGroup(let name) = lookup, forward.targetGroups.contains(where: { $0.targetGroupName == name }) {
            return (name, lookup)
        }
        return (ListenerRouter.selectTargetGroup(forward, random: &random), lookup)
    }
}
