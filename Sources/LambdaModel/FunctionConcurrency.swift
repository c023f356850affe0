/// A function's concurrency controls, as AWS keeps them apart from its versions' configuration: reserved
/// concurrency for the whole function (every version shares it), provisioned concurrency per version or alias.
///
/// Neither is part of a published version (changing them publishes nothing and restarts no environment), so they
/// live beside ``FunctionConfiguration`` rather than in it; the YAML and the control API's
/// Put/Get/Delete…Concurrency operations fill the same value.
public struct FunctionConcurrency: Sendable, Hashable {
    /// `ReservedConcurrentExecutions`: the function's share carved out of the account's pool, and its cap. 0
    /// throttles every invoke; nil: the function draws from the unreserved pool.
    public var reserved: Int?
    /// `ProvisionedConcurrentExecutions` by qualifier (a version number or an alias name; never `$LATEST`).
    public var provisioned: [String: Int]

    public init(reserved: Int? = nil, provisioned: [String: Int] = [:]) {
        self.reserved = reserved
        self.provisioned = provisioned
    }

    public var isEmpty: Bool { reserved == nil && provisioned.isEmpty }

    /// Provisioned environments of all qualifiers together (what AWS checks against reserved concurrency).
    public var totalProvisioned: Int { provisioned.values.reduce(0, +) }
}

/// The account's concurrency: AWS's `ConcurrentExecutions` limit and the unreserved pool it keeps.
public struct AccountConcurrency: Sendable, Hashable {
    /// Concurrent executions of all functions together (1,000 by default on AWS).
    public var limit: Int
    /// Reservations may never leave fewer than this many executions unreserved (100 on AWS).
    public var minimumUnreserved: Int

    public init(limit: Int = 1000, minimumUnreserved: Int = 100) {
        self.limit = limit
        self.minimumUnreserved = minimumUnreserved
    }

    /// AWS's refusal of a reservation that would leave too little unreserved, or nil when `reserved` (all
    /// functions' reservations together, the new one included) fits.
    public func reservationProblem(totalReserved: Int) -> String? {
        guard limit - totalReserved < minimumUnreserved else { return nil }
        return "Specified ReservedConcurrentExecutions for function decreases account's "
            + "UnreservedConcurrentExecution below its minimum value of [\(minimumUnreserved)]."
    }

    /// AWS's refusal of a function's provisioned concurrency (`settings.totalProvisioned`, every qualifier) that
    /// does not fit: in its reservation when it has one, else in the unreserved pool (`limit` less every
    /// reservation, `totalReserved`) less the unreserved minimum; nil when it fits. The configuration loader and
    /// the control API both ask this.
    public func provisionedProblem(function: String, settings: FunctionConcurrency, totalReserved: Int) -> String? {
        let total = settings.totalProvisioned
        if let reserved = settings.reserved {
            guard total > reserved else { return nil }
            return "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution "
                + "for function \(function) (\(total) > \(reserved))"
        }
        guard total > limit - totalReserved - minimumUnreserved else { return nil }
        return "Requested Provisioned Concurrency (\(total)) would leave the account's UnreservedConcurrentExecution "
            + "below its minimum value of [\(minimumUnreserved)]"
    }
}
