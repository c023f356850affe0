import AsyncInvocation
import Foundation
import LambdaModel
import NIOPosix
import Registry

/// The read operations: GetFunction, GetFunctionConfiguration, ListFunctions, ListVersionsByFunction, GetAlias,
/// ListAliases, GetAccountSettings, and the code download behind `Code.Location`.
extension ControlAPI {
    /// A version as a Get* call shows it: the record and the `FunctionArn` §4.3 asks for.
    struct Resolved: Sendable {
        var record: FunctionVersionRecord
        var functionArn: String
    }

    /// `FunctionName` + `Qualifier` → the version's record: `$LATEST` or a number directly, an alias through its
    /// primary version (§4.3: `FunctionArn` is the alias ARN, `Version` the alias's version).
    func resolveVersion(_ reference: FunctionReference) async throws(APIError) -> Resolved {
        let registry = self.registry
        let account = self.account
        let name = reference.name
        guard let qualifier = reference.qualifier else {
            do {
                let record = try await store { () throws(RegistryError) in
                    try registry.version(functionName: name, version: Registry.latest)
                }
                return Resolved(record: record, functionArn: record.unqualifiedArn)
            } catch  where error.status == 404 {
                throw .resourceNotFound("Function not found: \(account.functionARN(name))")
            }
        }
        if qualifier == Registry.latest || qualifier.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            let record = try await store { () throws(RegistryError) in
                try registry.version(functionName: name, version: qualifier)
            }
            return Resolved(record: record, functionArn: record.arn)
        }
        do {
            return try await store { () throws(RegistryError) in
                let alias = try registry.alias(functionName: name, name: qualifier)
                let record = try registry.version(functionName: name, version: alias.routing.primaryVersion)
                return Resolved(record: record, functionArn: alias.arn)
            }
        } catch  where error.status == 404 || error.type == "ValidationException" {
            throw .resourceNotFound("Function not found: \(account.functionARN(name, qualifier: qualifier))")
        }
    }

    func configurationJSON(
        _ record: FunctionVersionRecord, functionArn: String, forList: Bool, state: Shapes.LifecycleState = .settled
    ) async -> JSONValue {
        let registry = self.registry
        let layers = record.configuration.layers
        var sizes: [String: Int] = [:]
        if !layers.isEmpty {
            sizes =
                (try? await store { () throws(RegistryError) in
                    var sizes: [String: Int] = [:]
                    for arn in layers {
                        sizes[arn] = try? registry.layerVersion(arn: arn, includingDeleted: true).codeSize
                    }
                    return sizes
                }) ?? [:]
        }
        let deadLetterTarget = await deadLetterTarget(of: record.functionName)
        return Shapes.functionConfiguration(
            record, style: .init(functionArn: functionArn, forList: forList, state: state), account: account,
            layerCodeSize: { sizes[$0] }, deadLetterTarget: deadLetterTarget)
    }

    /// The function's `DeadLetterConfig.TargetArn` (one per function, in the event queue's store), nil without
    /// one or without a queue.
    func deadLetterTarget(of function: String) async -> String? {
        guard let store = asyncQueue?.store else { return nil }
        return (try? await threadPool.runIfActive { try store.deadLetterTarget(function: function) }) ?? nil
    }

    func getFunctionConfiguration(_ context: Context) async throws(APIError) -> Response {
        let resolved = try await resolveVersion(try reference(context))
        return .json(200, await configurationJSON(resolved.record, functionArn: resolved.functionArn, forList: false))
    }

    func getFunction(_ context: Context) async throws(APIError) -> Response {
        let resolved = try await resolveVersion(try reference(context))
        let configuration = await configurationJSON(
            resolved.record, functionArn: resolved.functionArn, forList: false)
        let code: JSONValue = .object([
            ("RepositoryType", .string("S3")),
            ("Location", .string(codeLocation(resolved.record, host: context.request.header("host")))),
        ])
        let registry = self.registry
        let name = resolved.record.functionName
        let tags = try await store { () throws(RegistryError) in try registry.tags(functionName: name) }
        var members: [(String, JSONValue)] = [("Configuration", configuration), ("Code", code)]
        if !tags.isEmpty { members.append(("Tags", Self.tagsJSON(tags))) }
        if let reserved = try await effectiveConcurrency()[name]?.reserved {
            members.append(("Concurrency", .object([("ReservedConcurrentExecutions", .int(reserved))])))
        }
        return .json(200, .object(members))
    }

    func accountSettings() async throws(APIError) -> Response {
        let registry = self.registry
        let reserved = try await effectiveConcurrency().values.reduce(0) { $0 + ($1.reserved ?? 0) }
        let account = hooks.accountConcurrency
        let (size, count) = try await store { () throws(RegistryError) in
            let functions = try registry.functions()
            var total = 0
            for function in functions {
                for version in try registry.versions(functionName: function.functionName) { total += version.codeSize }
            }
            return (total, functions.count)
        }
        return .json(
            200,
            Shapes.accountSettings(
                totalCodeSize: size, functionCount: count, concurrentExecutions: account.limit,
                unreservedConcurrentExecutions: account.limit - reserved))
    }

    func listFunctions(_ context: Context) async throws(APIError) -> Response {
        let all: Bool
        switch context.match.query("FunctionVersion") {
        case nil: all = false
        case "ALL": all = true
        case let other?:
            throw .validation(
                value: other, member: "functionVersion", constraint: "Member must satisfy enum value set: [ALL]")
        }
        let paging = try Paging(context.match)
        let registry = self.registry
        let records = try await store { () throws(RegistryError) in
            var records: [FunctionVersionRecord] = []
            for latest in try registry.functions() {
                if all {
                    records += try registry.versions(functionName: latest.functionName)
                } else {
                    records.append(latest)
                }
            }
            return records
        }
        let (page, next) = try paging.page(records, key: Paging.key(of:))
        var items: [JSONValue] = []
        for record in page {
            items.append(
                await configurationJSON(record, functionArn: all ? record.arn : record.unqualifiedArn, forList: true))
        }
        return .json(200, Paging.wrap("Functions", items, next: next))
    }

    func listVersions(_ context: Context) async throws(APIError) -> Response {
        let reference = try reference(context)
        let paging = try Paging(context.match)
        let registry = self.registry
        let records = try await store { () throws(RegistryError) in
            try registry.versions(functionName: reference.name)
        }
        let (page, next) = try paging.page(records, key: Paging.key(of:))
        var items: [JSONValue] = []
        for record in page { items.append(await configurationJSON(record, functionArn: record.arn, forList: true)) }
        return .json(200, Paging.wrap("Versions", items, next: next))
    }

    func getAlias(_ context: Context) async throws(APIError) -> Response {
        let reference = try reference(context)
        let name = context.parameter("Name")
        let registry = self.registry
        let alias = try await store { () throws(RegistryError) in
            try registry.alias(functionName: reference.name, name: name)
        }
        return .json(200, Shapes.alias(alias))
    }

    func listAliases(_ context: Context) async throws(APIError) -> Response {
        let reference = try reference(context)
        let paging = try Paging(context.match)
        let version = context.match.query("FunctionVersion")
        let registry = self.registry
        var aliases = try await store { () throws(RegistryError) in
            try registry.aliases(functionName: reference.name)
        }
        if let version { aliases = aliases.filter { $0.routing.primaryVersion == version } }
        let (page, next) = try paging.page(aliases, key: \.name)
        return .json(200, Paging.wrap("Aliases", page.map(Shapes.alias), next: next))
    }

    // MARK: Code.Location

    /// Lifetime of a download link, as AWS's presigned S3 URLs (10 minutes).
    static let linkLifetimeSeconds = 600

    func codeLocation(_ record: FunctionVersionRecord, host: String?) -> String {
        codeLocation(codeSha256: record.codeSha256, host: host)
    }

    /// A download link for the stored package with this CodeSha256 (functions' and layers' packages share the
    /// content-addressed store).
    func codeLocation(codeSha256: String, host: String?) -> String {
        let hex = Crypto.hex([UInt8](Data(base64Encoded: codeSha256) ?? Data()))
        let expires = Int(now().timeIntervalSince1970) + Self.linkLifetimeSeconds
        let signature = Crypto.hex(Crypto.hmacSHA256(key: linkKey, "\(hex):\(expires)"))
        return
            "\(linkScheme)://\(host ?? "127.0.0.1")/albatross/code/\(hex).zip?Expires=\(expires)&Signature=\(signature)"
    }

    func downloadCode(_ context: Context) async throws(APIError) -> Response {
        let file = context.parameter("File")
        let denied = APIError(type: "AccessDenied", status: 403, message: "Request has expired or is not signed")
        let hex = String(file.dropLast(4))
        guard file.hasSuffix(".zip"), hex.utf8.count == 64, hex.utf8.allSatisfy({ SigV4Verifier.hexValue($0) != nil }),
            let expiresText = context.match.query("Expires"), let expires = Int(expiresText),
            let signature = context.match.query("Signature").flatMap(SigV4Verifier.bytes(hex:)),
            Crypto.constantTimeEqual(signature, Crypto.hmacSHA256(key: linkKey, "\(hex):\(expires)")),
            Double(expires) >= now().timeIntervalSince1970
        else { throw denied }
        let path = "\(registry.codeStoreDirectory)/\(hex).zip"
        let bytes = try await store { () throws(RegistryError) in
            FileManager.default.contents(atPath: path).map { [UInt8]($0) }
        }
        guard let bytes else { throw .resourceNotFound("The code package \(hex).zip no longer exists") }
        return Response(status: 200, headers: [("Content-Type", "application/zip")], body: bytes)
    }
}

/// `Marker` / `MaxItems` paging (§1.7): at most 50 items a page whatever MaxItems says; `NextMarker` is opaque
/// (base64 of the next item's sort key) and absent on the last page.
struct Paging {
    static let pageSize = 50
    var marker: String?
    var maxItems: Int

    init(_ match: Router.Match) throws(APIError) {
        if let text = match.query("MaxItems") {
            guard let value = Int(text) else {
                throw .validation(value: text, member: "maxItems", constraint: "Member must be an integer")
            }
            guard value >= 1 else {
                throw .validation(
                    value: text, member: "maxItems", constraint: "Member must have value greater than or equal to 1")
            }
            guard value <= 10000 else {
                throw .validation(
                    value: text, member: "maxItems", constraint: "Member must have value less than or equal to 10000")
            }
            maxItems = min(value, Self.pageSize)
        } else {
            maxItems = Self.pageSize
        }
        if let text = match.query("Marker") {
            guard let data = Data(base64Encoded: text), let key = String(data: data, encoding: .utf8) else {
                throw .invalidParameter("Invalid marker: \(text)")
            }
            marker = key
        }
    }

    /// The page starting at the first item whose key is at least the marker's (items sorted by key).
    func page<T>(_ items: [T], key: (T) -> String) throws(APIError) -> ([T], next: String?) {
        var start = 0
        if let marker { start = items.firstIndex { key($0) >= marker } ?? items.count }
        let end = min(items.count, start + maxItems)
        let next = end < items.count ? Data(key(items[end]).utf8).base64EncodedString() : nil
        return (Array(items[start..<end]), next)
    }

    /// Versions sort as function name, then number (`$LATEST` first).
    static func key(of record: FunctionVersionRecord) -> String {
        let number = String(record.number ?? 0)
        return record.functionName + "\u{1}" + String(repeating: "0", count: 10 - number.count) + number
    }

    static func wrap(_ member: String, _ items: [JSONValue], next: String?) -> JSONValue {
        var members: [(String, JSONValue)] = []
        if let next { members.append(("NextMarker", .string(next))) }
        members.append((member, .array(items)))
        return .object(members)
    }
}
