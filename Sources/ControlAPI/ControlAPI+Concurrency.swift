import Foundation
import LambdaModel
import Registry

/// Reserved concurrency (§5.21: Put/Get/DeleteFunctionConcurrency) and provisioned concurrency (§5.22:
/// Put/Get/Delete/ListProvisionedConcurrencyConfig(s)), on the model the configuration's
/// `reservedConcurrentExecutions` and `provisionedConcurrentExecutions` use: the store keeps what the API sets,
/// the server runs the file's settings for what the file declares and the store's for the rest
/// (``Registry/effectiveConcurrency(stored:declared:)``), and a change applies to the running server before the
/// response goes out (the limiter's reservations, the pools' provisioned environments; nothing restarts).
extension ControlAPI {
    /// Every function's settings as the server runs them.
    func effectiveConcurrency() async throws(APIError) -> [String: FunctionConcurrency] {
        let registry = self.registry
        let declared = hooks.declared().declaredConcurrency
        return try await store { () throws(RegistryError) in
            Registry.effectiveConcurrency(stored: try registry.storedConcurrency(), declared: declared)
        }
    }

    /// A function-level operation's function: an unqualified name or ARN (§5.21).
    func unqualifiedFunction(_ context: Context) throws(APIError) -> String {
        let reference = try FunctionReference.resolve(
            functionName: context.parameter("FunctionName"), qualifier: nil, region: context.region, account: account)
        if reference.qualifier != nil {
            throw .invalidParameter(
                "This operation is permitted on Lambda functions only. Aliases and versions do not support this "
                    + "operation. Please specify either a function name or an unqualified function ARN.")
        }
        return reference.name
    }

    func refuseDeclaredConcurrency(function: String) throws(APIError) {
        let declared = hooks.declared()
        if declared.functions.contains(function) {
            throw APIError(
                type: "ResourceConflictException", status: 409,
                message: "The function \(account.functionARN(function)) is declared in \(declared.file), which "
                    + "manages its reserved concurrency: set reservedConcurrentExecutions there (a running server "
                    + "applies the file when it changes).")
        }
    }

    // MARK: reserved concurrency

    func putFunctionConcurrency(_ context: Context) async throws(APIError) -> Response {
        let function = try unqualifiedFunction(context)
        let body = try RequestBody(context.request.body, allowed: ["ReservedConcurrentExecutions"])
        guard let reserved = try body.int("ReservedConcurrentExecutions") else {
            throw Self.missing("reservedConcurrentExecutions")
        }
        if reserved < 0 {
            throw .validation(
                value: String(reserved), member: "reservedConcurrentExecutions",
                constraint: "Member must have value greater than or equal to 0")
        }
        try refuseDeclaredConcurrency(function: function)
        try await setReserved(reserved, function: function)
        return .json(200, .object([("ReservedConcurrentExecutions", .int(reserved))]))
    }

    func deleteFunctionConcurrency(_ context: Context) async throws(APIError) -> Response {
        let function = try unqualifiedFunction(context)
        try refuseDeclaredConcurrency(function: function)
        try await setReserved(nil, function: function)
        return Response(status: 204)
    }

    private func setReserved(_ reserved: Int?, function: String) async throws(APIError) {
        let registry = self.registry
        let hooks = self.hooks
        let declared = hooks.declared().declaredConcurrency
        let account = hooks.accountConcurrency
        try await store { () throws(RegistryError) in
            try registry.setReservedConcurrency(functionName: function, reserved) { stored throws(RegistryError) in
                let effective = Registry.effectiveConcurrency(stored: stored, declared: declared)
                guard let reserved else { return }
                let total = effective.values.reduce(0) { $0 + ($1.reserved ?? 0) }
                if let problem = account.reservationProblem(totalReserved: total) {
                    throw RegistryError(.invalidParameterValue, problem)
                }
                let provisioned = effective[function]?.totalProvisioned ?? 0
                if reserved < provisioned {
                    throw RegistryError(
                        .invalidParameterValue,
                        "ReservedConcurrentExecutions (\(reserved)) must be at least the function's provisioned "
                            + "concurrency (\(provisioned)).")
                }
            }
            hooks.committed()
        }
    }

    func getFunctionConcurrency(_ context: Context) async throws(APIError) -> Response {
        let function = try unqualifiedFunction(context)
        let registry = self.registry
        try await store { () throws(RegistryError) in
            _ = try registry.version(functionName: function, version: Registry.latest)
        }
        guard let reserved = try await effectiveConcurrency()[function]?.reserved else {
            return .json(200, .object([]))
        }
        return .json(200, .object([("ReservedConcurrentExecutions", .int(reserved))]))
    }

    // MARK: provisioned concurrency

    /// The qualifier of a provisioned-concurrency call: required (the model's), checked as the other qualifiers.
    private func provisionedReference(_ context: Context) throws(APIError) -> (function: String, qualifier: String) {
        let reference = try reference(context)
        guard let qualifier = reference.qualifier else {
            throw .validation(value: "null", member: "qualifier", constraint: "Member must not be null")
        }
        return (reference.name, qualifier)
    }

    private func refuseDeclaredProvisioned(function: String, qualifier: String) throws(APIError) {
        let declared = hooks.declared()
        let key = "\(function):\(qualifier)"
        if declared.versions.contains(key) || declared.aliases.contains(key) {
            throw APIError(
                type: "ResourceConflictException", status: 409,
                message: "\(account.functionARN(function, qualifier: qualifier)) is declared in \(declared.file), "
                    + "which manages its provisioned concurrency: set provisionedConcurrentExecutions there.")
        }
    }

    /// AWS's rules for a function's provisioned concurrency (the configuration loader applies the same ones):
    /// a version is provisioned directly or through one alias, and the total fits the reservation, or without one
    /// the account's unreserved pool less its minimum.
    static func checkProvisioned(
        function: String, qualifier: String, effective: [String: FunctionConcurrency],
        routings: [String: AliasRouting], account: AccountConcurrency
    ) throws(RegistryError) {
        let settings = effective[function] ?? FunctionConcurrency()
        let isVersion = qualifier.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
        if isVersion {
            for (other, _) in settings.provisioned where other != qualifier {
                guard let routing = routings[other] else { continue }
                if routing.primaryVersion == qualifier || routing.additionalVersion == qualifier {
                    throw RegistryError(.resourceConflict, "Version is pointed by a Provisioned Concurrency alias")
                }
            }
        } else if let routing = routings[qualifier] {
            let versions = [routing.primaryVersion] + (routing.additionalVersion.map { [$0] } ?? [])
            if versions.contains(where: { settings.provisioned[$0] != nil }) {
                throw RegistryError(
                    .resourceConflict,
                    "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version")
            }
        }
        let totalReserved = effective.values.reduce(0) { $0 + ($1.reserved ?? 0) }
        if let problem = account.provisionedProblem(
            function: function, settings: settings, totalReserved: totalReserved)
        {
            throw RegistryError(.invalidParameterValue, problem)
        }
    }

    func putProvisionedConcurrency(_ context: Context) async throws(APIError) -> Response {
        let (function, qualifier) = try provisionedReference(context)
        let body = try RequestBody(context.request.body, allowed: ["ProvisionedConcurrentExecutions"])
        guard let requested = try body.int("ProvisionedConcurrentExecutions") else {
            throw Self.missing("provisionedConcurrentExecutions")
        }
        if requested < 1 {
            throw .validation(
                value: String(requested), member: "provisionedConcurrentExecutions",
                constraint: "Member must have value greater than or equal to 1")
        }
        if qualifier == Registry.latest {
            throw .invalidParameter(
                "Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
        }
        try refuseDeclaredProvisioned(function: function, qualifier: qualifier)
        let registry = self.registry
        let hooks = self.hooks
        let declared = hooks.declared().declaredConcurrency
        let account = hooks.accountConcurrency
        let record = try await store { () throws(RegistryError) in
            let record = try registry.putProvisionedConcurrency(
                functionName: function, qualifier: qualifier, requested: requested
            ) { stored, routings throws(RegistryError) in
                try Self.checkProvisioned(
                    function: function, qualifier: qualifier,
                    effective: Registry.effectiveConcurrency(stored: stored, declared: declared), routings: routings,
                    account: account)
            }
            hooks.committed()
            return record
        }
        // As AWS answers a Put: the environments are being started (Get shows READY once they finished INIT).
        return .json(
            202,
            Self.provisionedDocument(
                requested: record.requested, allocated: 0, available: 0, ready: false,
                lastModified: record.lastModified, functionArn: nil))
    }

    /// The configurations of `function` as the server runs them (the file's for what it declares, the store's
    /// for the rest), by qualifier, with a `LastModified` each.
    private func provisionedConfigs(
        function: String, qualifier: String?
    ) async throws(APIError) -> [(qualifier: String, requested: Int, lastModified: String)] {
        let registry = self.registry
        let stored = try await store { () throws(RegistryError) in
            try registry.provisionedConcurrency(functionName: function, qualifier: qualifier)
        }
        let effective = try await effectiveConcurrency()[function]?.provisioned ?? [:]
        let storedByQualifier = Dictionary(stored.map { ($0.qualifier, $0) }, uniquingKeysWith: { first, _ in first })
        return effective.filter { qualifier == nil || $0.key == qualifier }.sorted { $0.key < $1.key }.map {
            ($0.key, $0.value, storedByQualifier[$0.key]?.lastModified ?? startedAt)
        }
    }

    /// Requested, Allocated and Available as the pools have them: READY when every version the configuration
    /// lands on has its share of provisioned environments through INIT.
    private func provisionedStatus(
        function: String, qualifier: String, requested: Int
    ) async -> (allocated: Int, available: Int, ready: Bool) {
        var versions = [qualifier]
        if !qualifier.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            let registry = self.registry
            if let alias = try? await store({ () throws(RegistryError) in
                try registry.alias(functionName: function, name: qualifier)
            }) {
                versions = [alias.routing.primaryVersion] + (alias.routing.additionalVersion.map { [$0] } ?? [])
            }
        }
        var allocated = 0
        var available = 0
        var target = 0
        var ready = true
        for version in versions {
            guard let counts = hooks.provisionedCounts(function, version) else {
                ready = false
                continue
            }
            allocated += min(counts.allocated, counts.requested)
            available += min(counts.available, counts.requested)
            target += counts.requested
            if counts.available < counts.requested { ready = false }
        }
        // Until the catalog carries this configuration the pools ask for something else.
        if target != requested { ready = false }
        return (min(allocated, requested), min(available, requested), ready)
    }

    static func provisionedDocument(
        requested: Int, allocated: Int, available: Int, ready: Bool, lastModified: String, functionArn: String?
    ) -> JSONValue {
        var members: [(String, JSONValue)] = []
        if let functionArn { members.append(("FunctionArn", .string(functionArn))) }
        members += [
            ("RequestedProvisionedConcurrentExecutions", .int(requested)),
            ("AvailableProvisionedConcurrentExecutions", .int(available)),
            ("AllocatedProvisionedConcurrentExecutions", .int(allocated)),
            ("Status", .string(ready ? "READY" : "IN_PROGRESS")),
            ("LastModified", .string(lastModified)),
        ]
        return .object(members)
    }

    func getProvisionedConcurrency(_ context: Context) async throws(APIError) -> Response {
        let (function, qualifier) = try provisionedReference(context)
        if qualifier == Registry.latest {
            throw .invalidParameter("The function resource provided must be an alias or a published version.")
        }
        guard let config = try await provisionedConfigs(function: function, qualifier: qualifier).first else {
            throw APIError(
                type: "ProvisionedConcurrencyConfigNotFoundException", status: 404,
                message: "No Provisioned Concurrency Config found for this function")
        }
        let status = await provisionedStatus(function: function, qualifier: qualifier, requested: config.requested)
        return .json(
            200,
            Self.provisionedDocument(
                requested: config.requested, allocated: status.allocated, available: status.available,
                ready: status.ready, lastModified: config.lastModified, functionArn: nil))
    }

    func deleteProvisionedConcurrency(_ context: Context) async throws(APIError) -> Response {
        let (function, qualifier) = try provisionedReference(context)
        if qualifier == Registry.latest {
            throw .invalidParameter("The function resource provided must be an alias or a published version.")
        }
        try refuseDeclaredProvisioned(function: function, qualifier: qualifier)
        let registry = self.registry
        let hooks = self.hooks
        try await store { () throws(RegistryError) in
            if try registry.deleteProvisionedConcurrency(functionName: function, qualifier: qualifier) {
                hooks.committed()
            }
        }
        return Response(status: 204)
    }

    /// ListProvisionedConcurrencyConfigs: `GET …/provisioned-concurrency?List=ALL` (MaxItems 1–50).
    func listProvisionedConcurrency(_ context: Context) async throws(APIError) -> Response {
        if let list = context.match.query("List"), list != "ALL" {
            throw .validation(value: list, member: "list", constraint: "Member must satisfy enum value set: [ALL]")
        }
        if let text = context.match.query("MaxItems"), let value = Int(text), value > 50 {
            throw .validation(
                value: text, member: "maxItems", constraint: "Member must have value less than or equal to 50")
        }
        let paging = try Paging(context.match)
        let function = try unqualifiedFunction(context)
        let configs = try await provisionedConfigs(function: function, qualifier: nil)
        let (page, next) = try paging.page(configs) { $0.qualifier }
        var items: [JSONValue] = []
        for config in page {
            let status = await provisionedStatus(
                function: function, qualifier: config.qualifier, requested: config.requested)
            items.append(
                Self.provisionedDocument(
                    requested: config.requested, allocated: status.allocated, available: status.available,
                    ready: status.ready, lastModified: config.lastModified,
                    functionArn: account.functionARN(function, qualifier: config.qualifier)))
        }
        return .json(200, Paging.wrap("ProvisionedConcurrencyConfigs", items, next: next))
    }
}
