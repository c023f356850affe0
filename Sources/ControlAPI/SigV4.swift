public import Foundation
public import LambdaModel

/// Verifies AWS Signature Version 4 on a request as the reference's Appendix B describes: the canonical request
/// with the double-encoded path, the signed headers, the credential scope, the 5-minute clock skew and session
/// tokens. Pure (the clock is a parameter) so that it is tested against published vectors and real botocore
/// signatures; the listener calls it once per request, after the body has arrived.
public struct SigV4Verifier: Sendable {
    /// What a verified request was signed as.
    public struct Identity: Sendable, Hashable {
        public var accessKeyId: String
        public var accountId: String
        public var region: String
        public var service: String
    }

    /// The request as received: nothing decoded.
    public struct Request: Sendable {
        public var method: String
        /// The raw request target: path, and `?query` when there is one.
        public var target: String
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]

        public init(method: String, target: String, headers: [(name: String, value: String)], body: [UInt8]) {
            self.method = method
            self.target = target
            self.headers = headers
            self.body = body
        }

        func values(_ name: String) -> [String] {
            headers.filter { $0.name.lowercased() == name }.map(\.value)
        }
    }

    /// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
    public struct Authorization: Sendable, Hashable {
        public var accessKeyId: String
        public var date: String
        public var region: String
        public var service: String
        public var signedHeaders: String
        public var signature: String
    }

    public let credentials: [String: APICredential]
    public let maximumSkewSeconds: Int
    /// The service name the credential scope must name.
    public let service: String

    public init(credentials: [APICredential], maximumSkewSeconds: Int = 300, service: String = "lambda") {
        var byKey: [String: APICredential] = [:]
        for credential in credentials { byKey[credential.accessKeyId] = credential }
        self.credentials = byKey
        self.maximumSkewSeconds = maximumSkewSeconds
        self.service = service
    }

    static let invalidToken = APIError.signature(
        "UnrecognizedClientException", 403, "The security token included in the request is invalid.")
    static let mismatch = APIError.signature(
        "InvalidSignatureException", 403,
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
            + "Access Key and signing method. Consult the service documentation for details.")

    /// Checks the request's signature at `now`; returns who signed it or the error AWS answers with.
    public func verify(_ request: Request, now: Date) throws(APIError) -> Identity {
        guard let header = request.values("authorization").first else {
            throw .signature("MissingAuthenticationTokenException", 403, "Missing Authentication Token")
        }
        guard let authorization = Self.parseAuthorization(header) else {
            throw .signature(
                "IncompleteSignatureException", 400,
                "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' "
                    + "parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=\(header)")
        }
        guard let amzDate = request.values("x-amz-date").first, let signedAt = Self.parseAmzDate(amzDate) else {
            throw .signature(
                "IncompleteSignatureException", 400,
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
                    + "Authorization=\(header)")
        }
        guard let credential = credentials[authorization.accessKeyId] else { throw Self.invalidToken }
        let tokens = request.values("x-amz-security-token")
        if let expected = credential.sessionToken {
            guard tokens.count == 1, tokens[0] == expected else { throw Self.invalidToken }
        } else if !tokens.isEmpty {
            throw Self.invalidToken
        }
        let signed = authorization.signedHeaders.split(separator: ";").map(String.init)
        guard signed.contains("host") else {
            throw .signature(
                "InvalidSignatureException", 403, "'Host' must be a 'SignedHeader' in the AWS Authorization.")
        }
        if !tokens.isEmpty && !signed.contains("x-amz-security-token") {
            throw .signature(
                "InvalidSignatureException", 403,
                "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.")
        }
        guard authorization.service == service else {
            throw .signature(
                "InvalidSignatureException", 403, "Credential should be scoped to correct service: '\(service)'. ")
        }
        let dateOnly = String(amzDate.prefix(8))
        guard authorization.date == dateOnly else {
            throw .signature(
                "InvalidSignatureException", 403,
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                    + "'\(authorization.date)' != '\(dateOnly)', from '\(amzDate)'.")
        }
        let skew = Double(maximumSkewSeconds)
        if signedAt < now.addingTimeInterval(-skew) {
            throw .signature(
                "InvalidSignatureException", 403,
                "Signature expired: \(amzDate) is now earlier than "
                    + "\(Self.formatAmzDate(now.addingTimeInterval(-skew))) "
                    + "(\(Self.formatAmzDate(now)) - \(maximumSkewSeconds / 60) min.)")
        }
        if signedAt > now.addingTimeInterval(skew) {
            throw .signature(
                "InvalidSignatureException", 403,
                "Signature not yet current: \(amzDate) is still later than "
                    + "\(Self.formatAmzDate(now.addingTimeInterval(skew))) "
                    + "(\(Self.formatAmzDate(now)) + \(maximumSkewSeconds / 60) min.)")
        }
        let expected = Self.signature(
            secret: credential.secretAccessKey, authorization: authorization, amzDate: amzDate, request: request)
        guard let given = Self.bytes(hex: authorization.signature),
            Crypto.constantTimeEqual(given, expected)
        else { throw Self.mismatch }
        return Identity(
            accessKeyId: credential.accessKeyId, accountId: credential.accountId, region: authorization.region,
            service: authorization.service)
    }

    /// The signature the request should carry under `secret` (hex HMAC-SHA256 of the string to sign).
    static func signature(
        secret: String, authorization: Authorization, amzDate: String, request: Request
    ) -> [UInt8] {
        let canonical = canonicalRequest(request, signedHeaders: authorization.signedHeaders)
        let scope = "\(authorization.date)/\(authorization.region)/\(authorization.service)/aws4_request"
        let stringToSign = [
            "AWS4-HMAC-SHA256", amzDate, scope, Crypto.hex(Crypto.sha256(Array(canonical.utf8))),
        ].joined(separator: "\n")
        var key = Crypto.hmacSHA256(key: Array("AWS4\(secret)".utf8), authorization.date)
        key = Crypto.hmacSHA256(key: key, authorization.region)
        key = Crypto.hmacSHA256(key: key, authorization.service)
        key = Crypto.hmacSHA256(key: key, "aws4_request")
        return Crypto.hmacSHA256(key: key, Array(stringToSign.utf8))
    }

    // MARK: the canonical request (Appendix B, steps 2–7)

    static func canonicalRequest(_ request: Request, signedHeaders: String) -> String {
        let (path, query) = split(target: request.target)
        var headerBlock = ""
        for name in signedHeaders.split(separator: ";") {
            let values = request.values(String(name)).map(collapse)
            headerBlock += "\(name):\(values.joined(separator: ","))\n"
        }
        let payloadHash =
            request.values("x-amz-content-sha256").first ?? Crypto.hex(Crypto.sha256(request.body))
        return [
            request.method, canonicalURI(path), canonicalQuery(query), headerBlock, signedHeaders, payloadHash,
        ].joined(separator: "\n")
    }

    static func split(target: String) -> (path: String, query: String?) {
        guard let mark = target.firstIndex(of: "?") else { return (target, nil) }
        return (String(target[..<mark]), String(target[target.index(after: mark)...]))
    }

    /// Step 3: normalise `.`/`..`/empty segments of the raw path, then percent-encode again (`%3A` → `%253A`).
    static func canonicalURI(_ rawPath: String) -> String {
        var segments: [Substring] = []
        for segment in rawPath.split(separator: "/", omittingEmptySubsequences: true) {
            if segment == "." { continue }
            if segment == ".." {
                if !segments.isEmpty { segments.removeLast() }
                continue
            }
            segments.append(segment)
        }
        var path = "/" + segments.joined(separator: "/")
        if rawPath.hasSuffix("/") && !segments.isEmpty { path += "/" }
        return percentEncode(path, keepSlash: true)
    }

    /// Step 4: decode and re-encode every name and value, sort by name then value.
    static func canonicalQuery(_ query: String?) -> String {
        guard let query, !query.isEmpty else { return "" }
        var pairs = queryPairs(query).map { name, value in
            (
                percentEncode(percentDecode(String(name)), keepSlash: false),
                percentEncode(percentDecode(String(value)), keepSlash: false)
            )
        }
        pairs.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        return pairs.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// The `name=value` parts of a query string as they are (not decoded); a part without `=` has an empty value.
    static func queryPairs(_ query: String) -> [(name: Substring, value: Substring)] {
        query.split(separator: "&", omittingEmptySubsequences: true).map { part in
            guard let equals = part.firstIndex(of: "=") else { return (part, "") }
            return (part[..<equals], part[part.index(after: equals)...])
        }
    }

    /// Trims and collapses runs of whitespace to one space (step 5).
    static func collapse(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
    }

    /// Leaves `A-Za-z0-9-_.~` (and `/` when asked) as they are; everything else as `%XX` upper-case.
    static func percentEncode(_ text: String, keepSlash: Bool) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            let unreserved =
                (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39)
                || byte == 0x2d || byte == 0x5f || byte == 0x2e || byte == 0x7e || (keepSlash && byte == 0x2f)
            if unreserved {
                out.append(byte)
            } else {
                out.append(0x25)
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 0x0f)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `%XX` → byte (`+` stays `+`, as in a path; botocore encodes spaces as `%20`). Invalid escapes stay as they are.
    static func percentDecode(_ text: String) -> String {
        guard text.utf8.contains(0x25) else { return text }
        var bytes: [UInt8] = []
        let input = Array(text.utf8)
        var index = 0
        while index < input.count {
            if input[index] == 0x25, index + 2 < input.count,
                let high = hexValue(input[index + 1]), let low = hexValue(input[index + 2])
            {
                bytes.append(high << 4 | low)
                index += 3
            } else {
                bytes.append(input[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }

    static func bytes(hex: String) -> [UInt8]? {
        let input = Array(hex.utf8)
        guard input.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var index = 0
        while index < input.count {
            guard let high = hexValue(input[index]), let low = hexValue(input[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    // MARK: the Authorization header and dates

    /// Step 1: `AWS4-HMAC-SHA256 Credential=<AK>/<date>/<region>/<service>/aws4_request, SignedHeaders=…,
    /// Signature=<64 hex>` (the space after each comma optional); nil when it does not have that form.
    public static func parseAuthorization(_ header: String) -> Authorization? {
        let prefix = "AWS4-HMAC-SHA256 "
        guard header.hasPrefix(prefix) else { return nil }
        var fields: [String: String] = [:]
        for part in header.dropFirst(prefix.count).split(separator: ",") {
            let trimmed = part.drop(while: { $0 == " " })
            guard let equals = trimmed.firstIndex(of: "=") else { return nil }
            fields[String(trimmed[..<equals])] = String(trimmed[trimmed.index(after: equals)...])
        }
        guard fields.count == 3, let credential = fields["Credential"], let signedHeaders = fields["SignedHeaders"],
            let signature = fields["Signature"]
        else { return nil }
        let scope = credential.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard scope.count == 5, scope[4] == "aws4_request", !scope[0].isEmpty, !scope[2].isEmpty, !scope[3].isEmpty,
            scope[1].utf8.count == 8, scope[1].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            !signedHeaders.isEmpty, !signedHeaders.contains(","),
            signature.utf8.count == 64,
            signature.utf8.allSatisfy({ hexValue($0) != nil && !($0 >= 0x41 && $0 <= 0x46) })
        else { return nil }
        return Authorization(
            accessKeyId: scope[0], date: scope[1], region: scope[2], service: scope[3], signedHeaders: signedHeaders,
            signature: signature)
    }

    /// `yyyyMMdd'T'HHmmss'Z'` (UTC) → a date; nil for anything else.
    static func parseAmzDate(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 16, bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in bytes[range] {
                guard byte >= 0x30 && byte <= 0x39 else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8),
            let hour = number(9..<11), let minute = number(11..<13), let second = number(13..<15),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        return Date(timeIntervalSince1970: Double(days * 86400 + hour * 3600 + minute * 60 + second))
    }

    static func formatAmzDate(_ date: Date) -> String {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let rest = seconds - days * 86400
        let (year, month, day) = civilFromDays(days)
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : String(value) }
        return "\(year)\(two(month))\(two(day))T\(two(rest / 3600))\(two(rest / 60 % 60))\(two(rest % 60))Z"
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civilFromDays(_ days: Int) -> (Int, Int, Int) {
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

extension APIError {
    /// A signature error: AWS's body carries only `message`.
    static func signature(_ type: String, _ status: Int, _ message: String) -> APIError {
        var error = APIError(type: type, status: status, message: message, faultType: nil)
        error.messageKey = "message"
        return error
    }
}
