import Foundation

/// The operations the listener serves, each with its method and date-prefixed path (§5 of the reference).
public enum Operation: String, Sendable, Hashable, CaseIterable {
    case getFunction = "GetFunction"
    case getFunctionConfiguration = "GetFunctionConfiguration"
    case listFunctions = "ListFunctions"
    case listVersionsByFunction = "ListVersionsByFunction"
    case getAlias = "GetAlias"
    case listAliases = "ListAliases"
    case getAccountSettings = "GetAccountSettings"
    case invoke = "Invoke"
    /// The runtime interface emulator's `POST /2015-03-31/functions/function/invocations`.
    case emulatorInvoke = "EmulatorInvoke"
    /// `GET /albatross/code/<hex>.zip`: the download behind GetFunction's `Code.Location`.
    case downloadCode = "DownloadCode"
    case createFunction = "CreateFunction"
    case updateFunctionCode = "UpdateFunctionCode"
    case updateFunctionConfiguration = "UpdateFunctionConfiguration"
    case deleteFunction = "DeleteFunction"
    case publishVersion = "PublishVersion"
    case createAlias = "CreateAlias"
    case updateAlias = "UpdateAlias"
    case deleteAlias = "DeleteAlias"
    case tagResource = "TagResource"
    case untagResource = "UntagResource"
    case listTags = "ListTags"
    case invokeAsync = "InvokeAsync"
    case putFunctionEventInvokeConfig = "PutFunctionEventInvokeConfig"
    case updateFunctionEventInvokeConfig = "UpdateFunctionEventInvokeConfig"
    case getFunctionEventInvokeConfig = "GetFunctionEventInvokeConfig"
    case deleteFunctionEventInvokeConfig = "DeleteFunctionEventInvokeConfig"
    case listFunctionEventInvokeConfigs = "ListFunctionEventInvokeConfigs"
    /// `POST /` with a CodeDeploy JSON 1.1 `X-Amz-Target` (PutLifecycleEventHookExecutionStatus).
    case codeDeploy = "CodeDeploy"
    case putFunctionConcurrency = "PutFunctionConcurrency"
    case getFunctionConcurrency = "GetFunctionConcurrency"
    case deleteFunctionConcurrency = "DeleteFunctionConcurrency"
    case putProvisionedConcurrencyConfig = "PutProvisionedConcurrencyConfig"
    case getProvisionedConcurrencyConfig = "GetProvisionedConcurrencyConfig"
    case deleteProvisionedConcurrencyConfig = "DeleteProvisionedConcurrencyConfig"
    /// `GET …/provisioned-concurrency?List=ALL`: the same path as Get, told apart by the query.
    case listProvisionedConcurrencyConfigs = "ListProvisionedConcurrencyConfigs"
    case publishLayerVersion = "PublishLayerVersion"
    case getLayerVersion = "GetLayerVersion"
    /// `GET /2018-10-31/layers?find=LayerVersion&Arn=…`: ListLayers' path, told apart by the query.
    case getLayerVersionByArn = "GetLayerVersionByArn"
    case listLayers = "ListLayers"
    case listLayerVersions = "ListLayerVersions"
    case deleteLayerVersion = "DeleteLayerVersion"
    case addPermission = "AddPermission"
    case removePermission = "RemovePermission"
    case getPolicy = "GetPolicy"

    /// The name AWS uses in limits messages (`… for the InvokeFunction operation`).
    var limitName: String {
        switch self {
        case .invoke, .emulatorInvoke, .invokeAsync: return "InvokeFunction"
        default: return rawValue
        }
    }

    /// Bytes of body the operation accepts; more is answered with 413 before the body is kept.
    var maximumBodyBytes: Int {
        switch self {
        case .invoke, .emulatorInvoke, .invokeAsync: return Router.maximumInvokePayload
        case .createFunction, .updateFunctionCode, .publishLayerVersion: return Router.maximumCodeRequest
        default: return 64 * 1024
        }
    }
}

/// Matches a request's method and raw path to an ``Operation`` and its path parameters.
///
/// A table of fixed patterns rather than a framework router: the API's paths are a closed set named by the
/// botocore model, each segment is percent-decoded exactly once here (ARNs arrive as `arn%3Aaws%3A…`), and adding
/// the remaining operations of issue 10 is one line each.
public enum Router {
    /// The synchronous invoke request limit: 6 MB (6,291,456 bytes).
    public static let maximumInvokePayload = 6 * 1024 * 1024
    /// A request that uploads a package (CreateFunction, UpdateFunctionCode): AWS's 70,167,211 bytes (§5.1),
    /// which holds a 50 MB zip in base64 with the rest of the request.
    public static let maximumCodeRequest = 70_167_211

    /// One entry of the table: `{name}` segments bind parameters.
    struct Route {
        var method: String
        var pattern: [String]
        var operation: Operation
    }

    static let routes: [Route] = [
        Route(method: "GET", pattern: ["2015-03-31", "functions"], operation: .listFunctions),
        Route(method: "POST", pattern: [""], operation: .codeDeploy),
        Route(method: "GET", pattern: ["2015-03-31", "functions", "{FunctionName}"], operation: .getFunction),
        Route(
            method: "GET", pattern: ["2015-03-31", "functions", "{FunctionName}", "configuration"],
            operation: .getFunctionConfiguration),
        Route(
            method: "GET", pattern: ["2015-03-31", "functions", "{FunctionName}", "versions"],
            operation: .listVersionsByFunction),
        Route(
            method: "GET", pattern: ["2015-03-31", "functions", "{FunctionName}", "aliases"], operation: .listAliases),
        Route(
            method: "GET", pattern: ["2015-03-31", "functions", "{FunctionName}", "aliases", "{Name}"],
            operation: .getAlias),
        Route(
            method: "POST", pattern: ["2015-03-31", "functions", "function", "invocations"],
            operation: .emulatorInvoke),
        Route(
            method: "POST", pattern: ["2015-03-31", "functions", "{FunctionName}", "invocations"], operation: .invoke),
        Route(method: "GET", pattern: ["2016-08-19", "account-settings"], operation: .getAccountSettings),
        Route(method: "GET", pattern: ["albatross", "code", "{File}"], operation: .downloadCode),
        Route(method: "POST", pattern: ["2015-03-31", "functions"], operation: .createFunction),
        Route(
            method: "PUT", pattern: ["2015-03-31", "functions", "{FunctionName}", "code"],
            operation: .updateFunctionCode),
        Route(
            method: "PUT", pattern: ["2015-03-31", "functions", "{FunctionName}", "configuration"],
            operation: .updateFunctionConfiguration),
        Route(method: "DELETE", pattern: ["2015-03-31", "functions", "{FunctionName}"], operation: .deleteFunction),
        Route(
            method: "POST", pattern: ["2015-03-31", "functions", "{FunctionName}", "versions"],
            operation: .publishVersion),
        Route(
            method: "POST", pattern: ["2015-03-31", "functions", "{FunctionName}", "aliases"], operation: .createAlias),
        Route(
            method: "PUT", pattern: ["2015-03-31", "functions", "{FunctionName}", "aliases", "{Name}"],
            operation: .updateAlias),
        Route(
            method: "DELETE", pattern: ["2015-03-31", "functions", "{FunctionName}", "aliases", "{Name}"],
            operation: .deleteAlias),
        Route(method: "POST", pattern: ["2017-03-31", "tags", "{Resource}"], operation: .tagResource),
        Route(method: "DELETE", pattern: ["2017-03-31", "tags", "{Resource}"], operation: .untagResource),
        Route(method: "GET", pattern: ["2017-03-31", "tags", "{Resource}"], operation: .listTags),
        Route(
            method: "POST", pattern: ["2014-11-13", "functions", "{FunctionName}", "invoke-async"],
            operation: .invokeAsync),
        Route(
            method: "PUT", pattern: ["2019-09-25", "functions", "{FunctionName}", "event-invoke-config"],
            operation: .putFunctionEventInvokeConfig),
        Route(
            method: "POST", pattern: ["2019-09-25", "functions", "{FunctionName}", "event-invoke-config"],
            operation: .updateFunctionEventInvokeConfig),
        Route(
            method: "GET", pattern: ["2019-09-25", "functions", "{FunctionName}", "event-invoke-config"],
            operation: .getFunctionEventInvokeConfig),
        Route(
            method: "DELETE", pattern: ["2019-09-25", "functions", "{FunctionName}", "event-invoke-config"],
            operation: .deleteFunctionEventInvokeConfig),
        Route(
            method: "GET", pattern: ["2019-09-25", "functions", "{FunctionName}", "event-invoke-config", "list"],
            operation: .listFunctionEventInvokeConfigs),
        Route(
            method: "PUT", pattern: ["2017-10-31", "functions", "{FunctionName}", "concurrency"],
            operation: .putFunctionConcurrency),
        Route(
            method: "GET", pattern: ["2019-09-30", "functions", "{FunctionName}", "concurrency"],
            operation: .getFunctionConcurrency),
        Route(
            method: "DELETE", pattern: ["2017-10-31", "functions", "{FunctionName}", "concurrency"],
            operation: .deleteFunctionConcurrency),
        Route(
            method: "PUT", pattern: ["2019-09-30", "functions", "{FunctionName}", "provisioned-concurrency"],
            operation: .putProvisionedConcurrencyConfig),
        Route(
            method: "GET", pattern: ["2019-09-30", "functions", "{FunctionName}", "provisioned-concurrency"],
            operation: .getProvisionedConcurrencyConfig),
        Route(
            method: "DELETE", pattern: ["2019-09-30", "functions", "{FunctionName}", "provisioned-concurrency"],
            operation: .deleteProvisionedConcurrencyConfig),
        Route(method: "GET", pattern: ["2018-10-31", "layers"], operation: .listLayers),
        Route(
            method: "POST", pattern: ["2018-10-31", "layers", "{LayerName}", "versions"],
            operation: .publishLayerVersion),
        Route(
            method: "GET", pattern: ["2018-10-31", "layers", "{LayerName}", "versions"],
            operation: .listLayerVersions),
        Route(
            method: "GET", pattern: ["2018-10-31", "layers", "{LayerName}", "versions", "{VersionNumber}"],
            operation: .getLayerVersion),
        Route(
            method: "DELETE", pattern: ["2018-10-31", "layers", "{LayerName}", "versions", "{VersionNumber}"],
            operation: .deleteLayerVersion),
        Route(
            method: "POST", pattern: ["2015-03-31", "functions", "{FunctionName}", "policy"], operation: .addPermission),
        Route(method: "GET", pattern: ["2015-03-31", "functions", "{FunctionName}", "policy"], operation: .getPolicy),
        Route(
            method: "DELETE", pattern: ["2015-03-31", "functions", "{FunctionName}", "policy", "{StatementId}"],
            operation: .removePermission),
    ]

    /// A matched request.
    public struct Match: Sendable, Hashable {
        public var operation: Operation
        /// Path parameters, percent-decoded.
        public var parameters: [String: String]
        /// Query parameters, percent-decoded, in order (names may repeat).
        public var query: [QueryItem]

        public func query(_ name: String) -> String? { query.first { $0.name == name }?.value }
    }

    public struct QueryItem: Sendable, Hashable {
        public var name: String
        public var value: String
    }

    /// The operation for `method` and the raw request target (`/path?query`), or nil.
    public static func match(method: String, target: String) -> Match? {
        let (rawPath, rawQuery) = SigV4Verifier.split(target: target)
        guard rawPath.hasPrefix("/") else { return nil }
        var segments = rawPath.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        // The model's own URIs for ListFunctions and GetAccountSettings end with `/`.
        if segments.count > 1, segments.last == "" { segments.removeLast() }
        for route in routes where route.method == method && route.pattern.count == segments.count {
            var parameters: [String: String] = [:]
            var matched = true
            for (pattern, segment) in zip(route.pattern, segments) {
                if pattern.hasPrefix("{") {
                    let decoded = SigV4Verifier.percentDecode(segment)
                    if decoded.isEmpty {
                        matched = false
                        break
                    }
                    parameters[String(pattern.dropFirst().dropLast())] = decoded
                } else if pattern != segment {
                    matched = false
                    break
                }
            }
            if matched {
                var match = Match(operation: route.operation, parameters: parameters, query: parse(rawQuery))
                // Two operations share a path each, told apart by a literal query member (the model's).
                if match.operation == .getProvisionedConcurrencyConfig, match.query("List") != nil {
                    match.operation = .listProvisionedConcurrencyConfigs
                }
                if match.operation == .listLayers, match.query("find") == "LayerVersion" {
                    match.operation = .getLayerVersionByArn
                }
                return match
            }
        }
        return nil
    }

    static func parse(_ query: String?) -> [QueryItem] {
        guard let query, !query.isEmpty else { return [] }
        return SigV4Verifier.queryPairs(query).map { name, value in
            // Query strings may carry `+` for a space (form encoding); botocore never sends one.
            return QueryItem(
                name: SigV4Verifier.percentDecode(name.replacingOccurrences(of: "+", with: " ")),
                value: SigV4Verifier.percentDecode(value.replacingOccurrences(of: "+", with: " ")))
        }
    }
}
