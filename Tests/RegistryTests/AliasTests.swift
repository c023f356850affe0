import Foundation
import LambdaModel
import Registry
import Testing

/// Aliases in the store: create/update/get/list/delete with AWS's errors, RevisionIds and restarts.
struct AliasTests {
    /// `orders` with versions 1 and 2 published.
    static func twoVersions() throws -> RegistryFixture {
        let fixture = try RegistryFixture()
        try fixture.putOrders(body: "v1")
        try fixture.registry.publishVersion(functionName: "orders")
        try fixture.putOrders(body: "v2")
        try fixture.registry.publishVersion(functionName: "orders")
        return fixture
    }

    static let arn = "arn:aws:lambda:eu-west-1:111122223333:function:orders"

    @Test func createGetListAndDelete() throws {
        let fixture = try Self.twoVersions()
        let registry = fixture.registry
        let canary = AliasRouting(
            primaryVersion: "1", additionalVersion: "2", additionalWeight: 0.1, stickiness: .header("x-user"))
        let created = try registry.createAlias(functionName: "orders", name: "live", routing: canary)
        #expect(created.arn == "\(Self.arn):live")
        #expect(created.description == "")
        #expect(created.routing == canary)
        #expect(try registry.alias(functionName: "orders", name: "live") == created)
        try registry.createAlias(
            functionName: "orders", name: "beta", routing: AliasRouting(primaryVersion: "$LATEST"), description: "b")
        #expect(try registry.aliases(functionName: "orders").map(\.name) == ["beta", "live"])

        #expect(try registry.deleteAlias(functionName: "orders", name: "beta"))
        #expect(try !registry.deleteAlias(functionName: "orders", name: "beta"))
        #expect(try !registry.deleteAlias(functionName: "nobody", name: "beta"))
        #expect(try registry.aliases(functionName: "orders").map(\.name) == ["live"])
    }

    @Test func storeErrorsUseAWSMessages() throws {
        let fixture = try Self.twoVersions()
        let registry = fixture.registry
        try registry.createAlias(functionName: "orders", name: "live", routing: AliasRouting(primaryVersion: "1"))
        expectRegistryError("ResourceConflictException", "Alias already exists: \(Self.arn):live") {
            try registry.createAlias(functionName: "orders", name: "live", routing: AliasRouting(primaryVersion: "2"))
        }
        expectRegistryError(
            "ResourceNotFoundException", "Function not found: arn:aws:lambda:eu-west-1:111122223333:function:nobody:1"
        ) { try registry.createAlias(functionName: "nobody", name: "live", routing: AliasRouting(primaryVersion: "1")) }
        expectRegistryError("ResourceNotFoundException", "Function not found: \(Self.arn):7") {
            try registry.createAlias(functionName: "orders", name: "x", routing: AliasRouting(primaryVersion: "7"))
        }
        // Version names are exact: "01" is not version 1.
        expectRegistryError("ResourceNotFoundException", "Function not found: \(Self.arn):01") {
            try registry.createAlias(functionName: "orders", name: "x", routing: AliasRouting(primaryVersion: "01"))
        }
        // Rule 6: the additional version must exist.
        expectRegistryError("ResourceNotFoundException", "Function not found: \(Self.arn):10") {
            try registry.createAlias(
                functionName: "orders", name: "x",
                routing: AliasRouting(primaryVersion: "1", additionalVersion: "10", additionalWeight: 0.5))
        }
        expectRegistryError("ResourceNotFoundException", "Cannot find alias arn: \(Self.arn):ghost") {
            _ = try registry.alias(functionName: "orders", name: "ghost")
        }
        expectRegistryError("ResourceNotFoundException", "Alias not found: \(Self.arn):ghost") {
            try registry.updateAlias(functionName: "orders", name: "ghost", routing: AliasRouting(primaryVersion: "1"))
        }
        // Validation comes from AliasValidation, with its messages.
        expectRegistryError(
            "ValidationException",
            "1 validation error detected: Value '2024' at 'name' failed to satisfy constraint: Member must satisfy "
                + "regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"
        ) { try registry.createAlias(functionName: "orders", name: "2024", routing: AliasRouting(primaryVersion: "1")) }
        // Rule 9: the update's resulting primary version counts.
        expectRegistryError(
            "InvalidParameterValueException",
            "Invalid function version 2. Function version 2 is already included in routing configuration."
        ) {
            try registry.updateAlias(
                functionName: "orders", name: "live",
                routing: AliasRouting(primaryVersion: "2", additionalVersion: "2", additionalWeight: 0.5))
        }
        // None of the failures changed anything.
        #expect(try registry.aliases(functionName: "orders").map(\.name) == ["live"])
        #expect(try registry.alias(functionName: "orders", name: "live").routing == AliasRouting(primaryVersion: "1"))
    }

    @Test func everyUpdateChangesTheRevisionId() throws {
        let fixture = try Self.twoVersions()
        let registry = fixture.registry
        let created = try registry.createAlias(
            functionName: "orders", name: "live", routing: AliasRouting(primaryVersion: "1"))
        // No effective change: still a new RevisionId.
        let same = try registry.updateAlias(functionName: "orders", name: "live")
        #expect(same.revisionId != created.revisionId)
        #expect(same.routing == created.routing)
        expectRegistryError(
            "PreconditionFailedException",
            "The Revision Id provided does not match the latest Revision Id. "
                + "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
        ) {
            try registry.updateAlias(
                functionName: "orders", name: "live", description: "x", expectedRevisionId: created.revisionId)
        }
        let shifted = try registry.updateAlias(
            functionName: "orders", name: "live",
            routing: AliasRouting(primaryVersion: "1", additionalVersion: "2", additionalWeight: 0.25),
            expectedRevisionId: same.revisionId)
        #expect(shifted.revisionId != same.revisionId)
        #expect(shifted.routing.additionalWeight == 0.25)
        // Description alone leaves the routing; routing alone leaves the description.
        let described = try registry.updateAlias(functionName: "orders", name: "live", description: "canary")
        #expect(described.routing == shifted.routing)
        #expect(described.description == "canary")
        // Promote fully: primary 2, no weights.
        let promoted = try registry.updateAlias(
            functionName: "orders", name: "live", routing: AliasRouting(primaryVersion: "2"))
        #expect(promoted.routing == AliasRouting(primaryVersion: "2"))
        #expect(promoted.description == "canary")
        #expect(try registry.alias(functionName: "orders", name: "live") == promoted)
    }

    @Test func restartKeepsVersionsAliasesAndWeights() throws {
        let fixture = try Self.twoVersions()
        try fixture.putOrders(body: "v3", environment: ["TOKEN": "abc"])
        let versions = try fixture.registry.versions(functionName: "orders")
        let live = try fixture.registry.createAlias(
            functionName: "orders", name: "live",
            routing: AliasRouting(
                primaryVersion: "1", additionalVersion: "2", additionalWeight: 0.125, stickiness: .cookie("session")),
            description: "canary")
        let sticky = try fixture.registry.createAlias(
            functionName: "orders", name: "ip",
            routing: AliasRouting(
                primaryVersion: "2", additionalVersion: "1", additionalWeight: 1.0, stickiness: .clientAddress))

        let reopened = try fixture.reopen()
        #expect(try reopened.versions(functionName: "orders") == versions)
        #expect(try reopened.alias(functionName: "orders", name: "live") == live)
        #expect(try reopened.alias(functionName: "orders", name: "ip") == sticky)
        // The counter survives: the next publish is 3, not a reused number.
        #expect(try reopened.publishVersion(functionName: "orders").version == "3")
        #expect(
            try reopened.version(functionName: "orders", version: "3").configuration.environment.first?.value == "abc")
    }
}
