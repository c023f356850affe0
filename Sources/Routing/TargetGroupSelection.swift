extension ListenerRouter {
    /// Picks the target group of a forward action in proportion to the weights (10 and 20 → 1:2).
    ///
    /// A single group is always chosen, whatever its weight; with several groups a weight-0 group is never
    /// chosen. If every weight is 0 (the loader refuses that) the first group is returned. Stickiness is the
    /// caller's concern: it checks the `AWSALBTG` cookie before calling this.
    public func selectTargetGroup(_ forward: ForwardAction, random: inout some RandomNumberGenerator) -> String {
        Self.selectTargetGroup(forward, random: &random)
    }

    /// ``selectTargetGroup(_:random:)`` without a router, for callers that hold only the action.
    public static func selectTargetGroup(
        _ forward: ForwardAction,
        random: inout some RandomNumberGenerator
    ) -> String {
        let groups = forward.targetGroups
        guard groups.count > 1 else { return groups.first?.targetGroupName ?? "" }
        var total: UInt64 = 0
        for group in groups { total += UInt64(max(group.weight, 0)) }
        guard total > 0 else { return groups[0].targetGroupName }
        var draw = random.next(upperBound: total)
        for group in groups {
            let weight = UInt64(max(group.weight, 0))
            if draw < weight { return group.targetGroupName }
            draw -= weight
        }
        return groups[groups.count - 1].targetGroupName
    }
}
