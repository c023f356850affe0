package import LambdaModel
import Routing

/// Alias routings for the alias-resolution benchmarks: what `Invoker.resolve` does per invoke through an alias.
package enum AliasFixture {
    package static func routing(for operation: HotPathOperation) -> AliasRouting {
        switch operation {
        case .aliasWeighted:
            return AliasRouting(primaryVersion: "1", additionalVersion: "2", additionalWeight: 0.1)
        case .aliasSticky:
            return AliasRouting(
                primaryVersion: "1", additionalVersion: "2", additionalWeight: 0.1, stickiness: .header("user-agent"))
        default:
            return AliasRouting(primaryVersion: "1")
        }
    }
}
