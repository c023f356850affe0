import Foundation
import LambdaModel
import Registry
import Testing

/// The statements the server keeps in resource policies for the configuration's target groups
/// (`Registry.reconcileLoadBalancerGrants`): added once per group, never put back after a RemovePermission, taken
/// away when the group goes, granted late for a target that exists only later, and forgotten with a deleted
/// function or alias.
struct LoadBalancerGrantTests {
    static let arn = "arn:aws:lambda:eu-west-1:111122223333:function:orders"

    static func grant(_ group: String, qualifier: String? = nil, function: String = "orders") -> LoadBalancerGrant {
        LoadBalancerGrant(
            targetGroup: group, functionName: function, qualifier: qualifier,
            targetGroupARN: "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/\(group)/0123456789abcdef",
            statementId: "AlbatrossLoadBalancer-\(group)", statement: #"{"Sid":"AlbatrossLoadBalancer-\#(group)"}"#)
    }

    static func sids(_ registry: Registry, _ qualifier: String? = nil) throws -> [String] {
        try registry.policy(functionName: "orders", qualifier: qualifier)?.statements.map(\.sid) ?? []
    }

    @Test func grantsOnceAndARemovedStatementStaysRemoved() throws {
        let fixture = try RegistryFixture()
        try fixture.putOrders()
        let registry = fixture.registry
        let before = try registry.version(functionName: "orders", version: "$LATEST").revisionId
        let changes = try registry.reconcileLoadBalancerGrants([Self.grant("web")])
        #expect(
            changes.map(\.description) == [
                "target group web: statement AlbatrossLoadBalancer-web allowing "
                    + "elasticloadbalancing.amazonaws.com added "
                    + "to the resource policy of \(Self.arn)"
            ])
        #expect(try Self.sids(registry) == ["AlbatrossLoadBalancer-web"])
        #expect(
            try registry.policy(functionName: "orders", qualifier: nil)?.statements.first?.json
                == Self.grant("web").statement)
        let granted = try registry.version(functionName: "orders", version: "$LATEST").revisionId
        #expect(granted != before, "a policy change renews the RevisionId")
        // Nothing to do the second time: no write, no new RevisionId.
        #expect(try registry.reconcileLoadBalancerGrants([Self.grant("web")]).isEmpty)
        #expect(try registry.version(functionName: "orders", version: "$LATEST").revisionId == granted)

        try registry.removePermission(
            functionName: "orders", qualifier: nil, statementId: "AlbatrossLoadBalancer-web", expectedRevisionId: nil)
        #expect(try registry.reconcileLoadBalancerGrants([Self.grant("web")]).isEmpty)
        #expect(try Self.sids(registry) == [])
        // Not after a restart either.
        #expect(try fixture.reopen().reconcileLoadBalancerGrants([Self.grant("web")]).isEmpty)
        #expect(try Self.sids(fixture.registry) == [])
    }

    @Test func aGroupThatGoesTakesItsStatementAndOnlyIts() throws {
        let fixture = try RegistryFixture()
        try fixture.putOrders()
        let registry = fixture.registry
        try registry.publishVersion(functionName: "orders")
        try registry.createAlias(functionName: "orders", name: "live", routing: AliasRouting(primaryVersion: "1"))
        try registry.reconcileLoadBalancerGrants([Self.grant("web"), Self.grant("live", qualifier: "live")])
        _ = try registry.addPermission(
            functionName: "orders", qualifier: "live", statementId: "by-hand", statement: #"{"Sid":"by-hand"}"#,
            expectedRevisionId: nil, check: { _ in })
        #expect(try Self.sids(registry, "live") == ["AlbatrossLoadBalancer-live", "by-hand"])

        let changes = try registry.reconcileLoadBalancerGrants([Self.grant("web")])
        #expect(
            changes.map(\.description) == [
                "target group live is gone or names another function: "
                    + "statement AlbatrossLoadBalancer-live removed from "
                    + "the resource policy of \(Self.arn):live"
            ])
        #expect(try Self.sids(registry, "live") == ["by-hand"])
        #expect(try Self.sids(registry) == ["AlbatrossLoadBalancer-web"])

        // A group that names another qualifier: the old statement goes, the new target gets one.
        try registry.reconcileLoadBalancerGrants([Self.grant("web", qualifier: "1")])
        #expect(try Self.sids(registry) == [])
        #expect(try Self.sids(registry, "1") == ["AlbatrossLoadBalancer-web"])
        // A group that goes after its statement was removed by hand: nothing left to remove, no error.
        try registry.removePermission(
            functionName: "orders", qualifier: "1", statementId: "AlbatrossLoadBalancer-web", expectedRevisionId: nil)
        #expect(try registry.reconcileLoadBalancerGrants([]).count == 1)
        #expect(try Self.sids(registry, "1") == [])
    }

    @Test func aTargetThatExistsOnlyLaterIsGrantedThenAndForgottenWithIt() throws {
        let fixture = try RegistryFixture()
        let registry = fixture.registry
        let wanted = [Self.grant("web"), Self.grant("live", qualifier: "live")]
        // Neither the function nor the alias exists yet.
        #expect(try registry.reconcileLoadBalancerGrants(wanted).isEmpty)
        try fixture.putOrders()
        #expect(try registry.reconcileLoadBalancerGrants(wanted).count == 1)
        try registry.publishVersion(functionName: "orders")
        try registry.createAlias(functionName: "orders", name: "live", routing: AliasRouting(primaryVersion: "1"))
        #expect(try registry.reconcileLoadBalancerGrants(wanted).count == 1)
        #expect(try Self.sids(registry, "live") == ["AlbatrossLoadBalancer-live"])

        // Deleting the alias forgets its grant: a new alias of the name is granted again.
        try registry.removePermission(
            functionName: "orders", qualifier: "live", statementId: "AlbatrossLoadBalancer-live",
            expectedRevisionId: nil)
        #expect(try registry.reconcileLoadBalancerGrants(wanted).isEmpty)
        #expect(try registry.deleteAlias(functionName: "orders", name: "live"))
        try registry.createAlias(functionName: "orders", name: "live", routing: AliasRouting(primaryVersion: "1"))
        #expect(try registry.reconcileLoadBalancerGrants(wanted).count == 1)
        #expect(try Self.sids(registry, "live") == ["AlbatrossLoadBalancer-live"])

        // So does deleting the function.
        try registry.deleteFunction(name: "orders")
        try fixture.putOrders()
        #expect(try registry.reconcileLoadBalancerGrants(wanted).count == 1)
        #expect(try Self.sids(registry) == ["AlbatrossLoadBalancer-web"])
    }

    @Test func aStatementAddedByHandWithTheSameIdIsAdoptedNotDuplicated() throws {
        let fixture = try RegistryFixture()
        try fixture.putOrders()
        let registry = fixture.registry
        _ = try registry.addPermission(
            functionName: "orders", qualifier: nil, statementId: "AlbatrossLoadBalancer-web",
            statement: #"{"Sid":"mine"}"#, expectedRevisionId: nil, check: { _ in })
        #expect(try registry.reconcileLoadBalancerGrants([Self.grant("web")]).count == 1)
        #expect(
            try registry.policy(functionName: "orders", qualifier: nil)?.statements.map(\.json) == [#"{"Sid":"mine"}"#])
    }
}
