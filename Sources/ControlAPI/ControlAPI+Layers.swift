import Foundation
import LambdaModel
import Registry

/// Layers through the API (§5.23–§5.25): PublishLayerVersion (a .zip upload, unpacked once with the checks code
/// uploads get before anything is stored), GetLayerVersion, GetLayerVersionByArn, ListLayerVersions, ListLayers,
/// DeleteLayerVersion. The store is the one `albatross layers publish` and the configuration's `layers` use, so
/// functions reference a layer published here by its version ARN like any other.
extension ControlAPI {
    /// The runtime identifiers of botocore 1.43's `Runtime` enum: what `CompatibleRuntimes` and the list filters
    /// accept (a layer may name runtimes Albatross does not run; AWS does not check them against the function).
    static let modelRuntimes: [String] = [
        "nodejs", "nodejs4.3", "nodejs6.10", "nodejs8.10", "nodejs10.x", "nodejs12.x", "nodejs14.x", "nodejs16.x",
        "java8", "java8.al2", "java11", "python2.7", "python3.6", "python3.7", "python3.8", "python3.9",
        "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1", "dotnet6", "dotnet8", "nodejs4.3-edge",
        "go1.x", "ruby2.5", "ruby2.7", "provided", "provided.al2", "nodejs18.x", "python3.10", "java17", "ruby3.2",
        "ruby3.3", "ruby3.4", "python3.11", "nodejs20.x", "provided.al2023", "python3.12", "java21", "python3.13",
        "nodejs22.x", "nodejs24.x", "python3.14", "java25", "dotnet10", "ruby4.0",
    ]
    static let architectures = ["x86_64", "arm64"]

    /// `{LayerName}`: a name, or a layer ARN of this region and account (§3.1).
    func layerName(_ context: Context) throws(APIError) -> String {
        let text = context.parameter("LayerName")
        let pattern = #"(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+"#
        if text.utf8.count > 140 {
            throw .validation(
                value: text, member: "layerName", constraint: "Member must have length less than or equal to 140")
        }
        guard (try? Regex(pattern).wholeMatch(in: text)) != nil else {
            throw .validation(
                value: text, member: "layerName",
                constraint: "Member must satisfy regular expression pattern: \(pattern)")
        }
        guard text.hasPrefix("arn:") else { return text }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        if parts[3] != context.region || parts[4] != account.accountID {
            throw .resourceNotFound("The resource you requested does not exist.")
        }
        return parts[6]
    }

    /// `{VersionNumber}`: an integer of at least 1 (400 `Layer Version Cannot be less than 1`).
    static func layerVersionNumber(_ context: Context) throws(APIError) -> Int {
        let text = context.parameter("VersionNumber")
        guard let number = Int(text) else {
            throw .validation(value: text, member: "versionNumber", constraint: "Member must be a number")
        }
        if number < 1 { throw .invalidParameter("Layer Version Cannot be less than 1") }
        return number
    }

    static func checkEnums(
        _ values: [String], member: String, allowed: [String], maximum: Int
    ) throws(APIError) {
        let list = "[\(values.joined(separator: ", "))]"
        if values.count > maximum {
            throw .validation(
                value: list, member: member, constraint: "Member must have length less than or equal to \(maximum)")
        }
        if values.contains(where: { !allowed.contains($0) }) {
            throw .validation(
                value: list, member: member,
                constraint: "Member must satisfy constraint: [Member must satisfy enum value set: ["
                    + allowed.joined(separator: ", ") + "], Member must not be null]")
        }
    }

    /// The `CompatibleRuntime` / `CompatibleArchitecture` filters of the list operations.
    static func layerFilter(_ context: Context) throws(APIError) -> @Sendable (LayerVersionRecord) -> Bool {
        let runtime = context.match.query("CompatibleRuntime")
        let architecture = context.match.query("CompatibleArchitecture")
        if let runtime, !modelRuntimes.contains(runtime) {
            throw .validation(
                value: runtime, member: "compatibleRuntime",
                constraint: "Member must satisfy enum value set: [\(modelRuntimes.joined(separator: ", "))]")
        }
        if let architecture, !architectures.contains(architecture) {
            throw .validation(
                value: architecture, member: "compatibleArchitecture",
                constraint: "Member must satisfy enum value set: [x86_64, arm64]")
        }
        if let text = context.match.query("MaxItems"), let value = Int(text), value > 50 {
            throw .validation(
                value: text, member: "maxItems", constraint: "Member must have value less than or equal to 50")
        }
        return { record in
            (runtime.map { record.compatibleRuntimes.contains($0) } ?? true)
                && (architecture.map { record.compatibleArchitectures.contains($0) } ?? true)
        }
    }

    func publishLayerVersion(_ context: Context) async throws(APIError) -> Response {
        let name = try layerName(context)
        let body = try RequestBody(
            context.request.body,
            allowed: ["Description", "Content", "CompatibleRuntimes", "LicenseInfo", "CompatibleArchitectures"])
        guard let content = try body.object("Content", allowed: ["ZipFile", "S3Bucket", "S3Key", "S3ObjectVersion"])
        else { throw Self.missing("content") }
        guard case .upload(let zip) = try Self.codeSource(content) else {
            throw .invalidParameter("Albatross publishes layers from an upload: give Content.ZipFile")
        }
        let description = try body.string("Description") ?? ""
        let runtimes = try body.strings("CompatibleRuntimes") ?? []
        try Self.checkEnums(runtimes, member: "compatibleRuntimes", allowed: Self.modelRuntimes, maximum: 15)
        let architectures = try body.strings("CompatibleArchitectures") ?? []
        try Self.checkEnums(
            architectures, member: "compatibleArchitectures", allowed: Self.architectures, maximum: 2)
        let license = try body.string("LicenseInfo")
        if let license, license.count > 512 {
            throw .validation(
                value: license, member: "licenseInfo", constraint: "Member must have length less than or equal to 512")
        }
        let registry = self.registry
        let record = try await store { () throws(RegistryError) in
            try registry.publishLayerVersion(
                name: name, upload: zip, description: description, compatibleRuntimes: runtimes,
                compatibleArchitectures: architectures, licenseInfo: license)
        }
        return .json(201, layerDocument(record, host: context.request.header("host")))
    }

    /// PublishLayerVersion's and GetLayerVersion's document (§5.23).
    func layerDocument(_ record: LayerVersionRecord, host: String?) -> JSONValue {
        var members: [(String, JSONValue)] = [
            (
                "Content",
                .object([
                    ("Location", .string(codeLocation(codeSha256: record.codeSha256, host: host))),
                    ("CodeSha256", .string(record.codeSha256)),
                    ("CodeSize", .int(record.codeSize)),
                ])
            ),
            ("LayerArn", .string(record.layerArn)),
            ("LayerVersionArn", .string(record.arn)),
            ("Description", .string(record.description)),
            ("CreatedDate", .string(record.createdDate)),
            ("Version", .int(record.version)),
            ("CompatibleRuntimes", .array(record.compatibleRuntimes.map(JSONValue.string))),
        ]
        if let license = record.licenseInfo { members.append(("LicenseInfo", .string(license))) }
        members.append(("CompatibleArchitectures", .array(record.compatibleArchitectures.map(JSONValue.string))))
        return .object(members)
    }

    /// A `LayerVersionsListItem` (ListLayerVersions, ListLayers' `LatestMatchingVersion`).
    static func layerListItem(_ record: LayerVersionRecord) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("LayerVersionArn", .string(record.arn)),
            ("Version", .int(record.version)),
            ("Description", .string(record.description)),
            ("CreatedDate", .string(record.createdDate)),
            ("CompatibleRuntimes", .array(record.compatibleRuntimes.map(JSONValue.string))),
        ]
        if let license = record.licenseInfo { members.append(("LicenseInfo", .string(license))) }
        members.append(("CompatibleArchitectures", .array(record.compatibleArchitectures.map(JSONValue.string))))
        return .object(members)
    }

    func getLayerVersion(_ context: Context) async throws(APIError) -> Response {
        let name = try layerName(context)
        let number = try Self.layerVersionNumber(context)
        let arn = account.layerVersionARN(name, version: number)
        let registry = self.registry
        let record = try await store { () throws(RegistryError) in try registry.layerVersion(arn: arn) }
        return .json(200, layerDocument(record, host: context.request.header("host")))
    }

    func getLayerVersionByArn(_ context: Context) async throws(APIError) -> Response {
        guard let arn = context.match.query("Arn") else { throw Self.missing("arn") }
        if arn.utf8.count > 140 {
            throw .validation(
                value: arn, member: "arn", constraint: "Member must have length less than or equal to 140")
        }
        let registry = self.registry
        let record = try await store { () throws(RegistryError) in try registry.layerVersion(arn: arn) }
        return .json(200, layerDocument(record, host: context.request.header("host")))
    }

    /// ListLayerVersions: newest first; `[]` for an unknown layer (§5.25).
    func listLayerVersions(_ context: Context) async throws(APIError) -> Response {
        let name = try layerName(context)
        let filter = try Self.layerFilter(context)
        let paging = try Paging(context.match)
        let registry = self.registry
        let records = try await store { () throws(RegistryError) in try registry.layerVersions(name: name) }
            .filter(filter)
        // Newest first, so the paging key counts down.
        let (page, next) = try paging.page(records) { record in
            let key = String(9_999_999_999 - record.version)
            return String(repeating: "0", count: max(0, 10 - key.count)) + key
        }
        return .json(200, Paging.wrap("LayerVersions", page.map(Self.layerListItem), next: next))
    }

    /// ListLayers: each layer with its latest version (that matches the filters), by name.
    func listLayers(_ context: Context) async throws(APIError) -> Response {
        let filter = try Self.layerFilter(context)
        let paging = try Paging(context.match)
        let registry = self.registry
        let records = try await store { () throws(RegistryError) in
            try registry.latestLayerVersions(matching: filter)
        }
        let (page, next) = try paging.page(records, key: \.name)
        let items: [JSONValue] = page.map { record in
            .object([
                ("LayerName", .string(record.name)),
                ("LayerArn", .string(record.layerArn)),
                ("LatestMatchingVersion", Self.layerListItem(record)),
            ])
        }
        return .json(200, Paging.wrap("Layers", items, next: next))
    }

    /// DeleteLayerVersion: 204, also for a layer or version that does not exist (§5.25).
    func deleteLayerVersion(_ context: Context) async throws(APIError) -> Response {
        let name = try layerName(context)
        let number = try Self.layerVersionNumber(context)
        let registry = self.registry
        try await store { () throws(RegistryError) in
            _ = try registry.deleteLayerVersion(name: name, version: number)
        }
        return Response(status: 204)
    }
}
