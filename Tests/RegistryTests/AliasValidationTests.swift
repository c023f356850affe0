import LambdaModel
import Testing

/// The pure alias checks against AWS's recorded messages (control-api.md §3.1, §5.10, §5.15).
struct AliasValidationTests {
    static let weightsValueConstraint =
        "Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have "
        + "value greater than or equal to 0.0, Member must not be null]"
    static let weightsKeyConstraint =
        "Map keys must satisfy constraint: [Member must have length less than or equal to 1024, Member must have "
        + "length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+]"

    struct Case: Sendable, CustomTestStringConvertible {
        var name = "live"
        var version: String
        var weights: [String: Double]
        var type: LambdaError.ErrorType
        var message: String
        var testDescription: String { "\(name) → \(version) \(weights)" }
    }

    static let rejected: [Case] = [
        // §5.15 rule 1.
        Case(
            version: "1", weights: ["2": 0.1, "3": 0.1], type: .invalidParameterValue,
            message: "Number of items in AdditionalVersionWeights cannot be greater than 1"),
        // Rule 2, above and below the range.
        Case(
            version: "1", weights: ["2": 2.0], type: .validation,
            message: "1 validation error detected: Value '{2=2.0}' at 'routingConfig.additionalVersionWeights' "
                + "failed to satisfy constraint: \(weightsValueConstraint)"),
        Case(
            version: "1", weights: ["2": -1], type: .validation,
            message: "1 validation error detected: Value '{2=-1.0}' at 'routingConfig.additionalVersionWeights' "
                + "failed to satisfy constraint: \(weightsValueConstraint)"),
        Case(
            version: "1", weights: ["2": 1.0000001], type: .validation,
            message: "1 validation error detected: Value '{2=1.0000001}' at 'routingConfig.additionalVersionWeights' "
                + "failed to satisfy constraint: \(weightsValueConstraint)"),
        // Rule 3.
        Case(
            version: "1", weights: ["$LATEST": 0.5], type: .validation,
            message: "1 validation error detected: Value '{$LATEST=0.5}' at 'routingConfig.additionalVersionWeights' "
                + "failed to satisfy constraint: \(weightsKeyConstraint)"),
        // Rule 4.
        Case(
            version: "$LATEST", weights: ["2": 0.5], type: .invalidParameterValue,
            message: "$LATEST is not supported for an alias pointing to more than 1 version"),
        // Rule 5.
        Case(
            version: "1", weights: ["1": 0.5], type: .invalidParameterValue,
            message: "Invalid function version 1. Function version 1 is already included in routing configuration."),
        // §3.1 alias names.
        Case(
            name: "2024", version: "1", weights: [:], type: .validation,
            message: "1 validation error detected: Value '2024' at 'name' failed to satisfy constraint: Member must "
                + "satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"),
        Case(
            name: "bad.name", version: "1", weights: [:], type: .validation,
            message: "1 validation error detected: Value 'bad.name' at 'name' failed to satisfy constraint: Member "
                + "must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"),
        Case(
            name: String(repeating: "a", count: 129), version: "1", weights: [:], type: .validation,
            message: "1 validation error detected: Value '\(String(repeating: "a", count: 129))' at 'name' failed to "
                + "satisfy constraint: Member must have length less than or equal to 128"),
        Case(
            version: "one", weights: [:], type: .validation,
            message: "1 validation error detected: Value 'one' at 'functionVersion' failed to satisfy constraint: "
                + "Member must satisfy regular expression pattern: (\\$LATEST|[0-9]+)"),
        // Several violations at once are listed together.
        Case(
            name: "7", version: "1", weights: ["2": 1.5], type: .validation,
            message: "2 validation errors detected: Value '7' at 'name' failed to satisfy constraint: Member must "
                + "satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+); Value '{2=1.5}' at "
                + "'routingConfig.additionalVersionWeights' failed to satisfy constraint: \(weightsValueConstraint)"),
    ]

    @Test(arguments: rejected)
    func rejects(_ entry: Case) {
        #expect(throws: LambdaError(entry.type, entry.message)) {
            try AliasValidation.validate(
                name: entry.name, functionVersion: entry.version, additionalVersionWeights: entry.weights,
                description: nil)
        }
    }

    @Test(arguments: [
        ("live", "1", [String: Double](), AliasRouting(primaryVersion: "1")),
        ("2024-01-02", "$LATEST", [:], AliasRouting(primaryVersion: "$LATEST")),
        ("canary_1", "1", ["2": 0.1], AliasRouting(primaryVersion: "1", additionalVersion: "2", additionalWeight: 0.1)),
        ("zero", "1", ["2": 0.0], AliasRouting(primaryVersion: "1", additionalVersion: "2", additionalWeight: 0)),
        // Weight exactly 1.0 is accepted (the model's bound is inclusive; see docs/registry.md).
        ("all", "1", ["2": 1.0], AliasRouting(primaryVersion: "1", additionalVersion: "2", additionalWeight: 1.0)),
    ])
    func accepts(name: String, version: String, weights: [String: Double], expected: AliasRouting) throws {
        let routing = try AliasValidation.validate(
            name: name, functionVersion: version, additionalVersionWeights: weights, description: "")
        #expect(routing == expected)
    }

    @Test func descriptionLengthAndStickinessNormalisation() throws {
        #expect(
            throws: LambdaError(
                .validation,
                "1 validation error detected: Value '\(String(repeating: "d", count: 257))' at 'description' failed "
                    + "to satisfy constraint: Member must have length less than or equal to 256")
        ) {
            try AliasValidation.validate(
                name: "live", routing: AliasRouting(primaryVersion: "1"),
                description: String(repeating: "d", count: 257))
        }
        let routing = try AliasValidation.validate(
            name: "live",
            routing: AliasRouting(
                primaryVersion: "1", additionalVersion: "2", additionalWeight: 0.5, stickiness: .header("X-User")),
            description: nil)
        #expect(routing.stickiness == .header("x-user"))
    }

    @Test func missingVersionsAreNotFound() {
        let account = AccountContext(region: "us-east-1", accountID: "123456789012")
        let routing = AliasRouting(primaryVersion: "1", additionalVersion: "10", additionalWeight: 0.5)
        #expect(
            throws: LambdaError(
                .resourceNotFound, "Function not found: arn:aws:lambda:us-east-1:123456789012:function:orders:10")
        ) {
            try AliasValidation.checkVersionsExist(routing, functionName: "orders", account: account) { $0 == "1" }
        }
        #expect(throws: Never.self) {
            try AliasValidation.checkVersionsExist(routing, functionName: "orders", account: account) { _ in true }
        }
    }
}
