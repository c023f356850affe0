import Foundation
import LambdaModel

/// A `FunctionName` as callers give it (bare name, `name:qualifier`, partial ARN `123456789012:function:name`,
/// full ARN) together with the `Qualifier` query parameter, resolved as AWS does (§3.3 of the reference).
struct FunctionReference: Sendable, Hashable {
    var name: String
    /// The effective qualifier: the one in the name or the query; nil means `$LATEST` (unqualified).
    var qualifier: String?

    /// The model's `NamespacedFunctionName` pattern (Get*, Invoke, List* on a function).
    static let namespacedPattern =
        #"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?"#
        + #"([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"#
    static let qualifierPattern = #"(|[a-zA-Z0-9$_-]+)"#
    static let namespacedMaximumLength = 256

    /// The same pattern with named groups, to take the parts apart once it matched. Made per use: `Regex` is not
    /// `Sendable`, and the common case (a bare name) never needs it.
    static func parts() -> Regex<AnyRegexOutput> {
        try! Regex(
            #"(?:arn:(?:aws[a-zA-Z-]*)?:lambda:)?(?:(?<region>[a-z]{2}(?:(?:-gov)|(?:-iso(?:[a-z]?)))?-[a-z]+-\d{1}):)?"#
                + #"(?:(?<account>\d{12}):)?(?:function:)?(?<name>[a-zA-Z0-9\-_\.]+)"#
                + #"(?::(?<qualifier>\$LATEST(?:\.PUBLISHED)?|[a-zA-Z0-9\-_]+))?"#)
    }

    static func isNameCharacter(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
            || byte == 0x2d || byte == 0x5f
    }

    /// Parses and checks `functionName` (+ `qualifier`) against the caller's region and the platform's account.
    static func resolve(
        functionName: String, qualifier: String?, region: String, account: AccountContext
    ) throws(APIError) -> FunctionReference {
        if functionName.utf8.count > namespacedMaximumLength {
            throw .validation(
                value: functionName, member: "functionName",
                constraint: "Member must have length less than or equal to \(namespacedMaximumLength)")
        }
        let match: Regex<AnyRegexOutput>.Match?
        if !functionName.isEmpty, functionName.utf8.allSatisfy({ isNameCharacter($0) || $0 == 0x2e }) {
            match = nil  // a bare name: nothing to take apart
        } else {
            guard let found = try? parts().wholeMatch(in: functionName) else {
                throw .validation(
                    value: functionName, member: "functionName",
                    constraint: "Member must satisfy regular expression pattern: \(namespacedPattern)")
            }
            match = found
        }
        func group(_ name: String) -> String? {
            match?.output[name]?.substring.map(String.init)
        }
        if let qualifier {
            if qualifier.isEmpty || qualifier.utf8.count > 128 {
                throw .validation(
                    value: qualifier, member: "qualifier",
                    constraint: qualifier.isEmpty
                        ? "Member must have length greater than or equal to 1"
                        : "Member must have length less than or equal to 128")
            }
            guard qualifier.utf8.allSatisfy({ isNameCharacter($0) || $0 == UInt8(ascii: "$") }) else {
                throw .validation(
                    value: qualifier, member: "qualifier",
                    constraint: #"Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)"#)
            }
        }
        let name = group("name") ?? functionName
        if let arnRegion = group("region"), arnRegion != region {
            throw .resourceNotFound(
                "Functions from '\(arnRegion)' are not reachable in this region ('\(region)')")
        }
        if let arnAccount = group("account"), arnAccount != account.accountID {
            throw APIError(
                type: "AccessDeniedException", status: 403,
                message: "User is not authorized to access functions of account \(arnAccount): "
                    + "cross-account access is not supported")
        }
        let derived = group("qualifier")
        if let derived, let qualifier, derived != qualifier {
            throw .invalidParameter(
                "The derived qualifier from the function name does not match the specified qualifier.")
        }
        return FunctionReference(name: name, qualifier: derived ?? qualifier)
    }
}
