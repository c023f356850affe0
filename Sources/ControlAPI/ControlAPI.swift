public import AsyncInvocation
public import Foundation
public import InvocationModel
public import LambdaModel
import NIOCore
public import NIOPosix
public import Registry

/// How the listener checks who calls: `none` accepts any request (a signature, if present, only names the region);
/// `sigv4` requires a valid AWS Signature Version 4 from one of the configured credentials.
public enum APIAuthentication: Sendable, Hashable {
    case none
    case sigv4([APICredential])
}

/// The Lambda control API's operations over the registry and the invoker, independent of the HTTP server: one
/// request in, one response out. Store calls run on the blocking thread pool, never on an event loop; invokes go
/// through the same ``InvocationService`` path as the ALB front end.
public final class ControlAPI: Sendable {
    /// Invokes and, when `request.wantsReport` is set, fills in ``InvocationOutcome/logTail``.
    public typealias Invoke = @Sendable (InvokeRequest) async throws -> InvocationOutcome

    /// A request as the listener received it (nothing decoded).
    public struct Request: Sendable {
        public var method: String
        public var target: String
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]
        public var clientAddress: String

        public init(
            method: String, target: String, headers: [(name: String, value: String)], body: [UInt8],
            clientAddress: String = ""
        ) {
            self.method = method
            self.target = target
            self.headers = headers
            self.body = body
            self.clientAddress = clientAddress
        }

        public func header(_ name: String) -> String? {
            let lowered = name.lowercased()
            return headers.first { $0.name.lowercased() == lowered }?.value
        }
    }

    public struct Response: Sendable {
        public var status: Int
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]

        init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
            self.status = status
            self.headers = headers
            self.body = body
        }

        static func json(_ status: Int, _ value: JSONValue) -> Response {
            Response(
                status: status, headers: [("Content-Type", "application/json")], body: Array(value.serialized.utf8))
        }

        static func error(_ error: APIError) -> Response {
            var headers: [(name: String, value: String)] = [
                ("Content-Type", "application/json"), ("x-amzn-ErrorType", error.type),
            ]
            if let retryAfter = error.retryAfterSeconds { headers.append(("Retry-After", retryAfter)) }
            return Response(status: error.status, headers: headers, body: Array(error.body.utf8))
        }
    }

    let registry: Registry
    let threadPool: NIOThreadPool
    let invoke: Invoke
    let authentication: APIAuthentication
    let verifier: SigV4Verifier?
    /// The `sigv4` credentials by access key, and the identity policies of those that carry one (a document that
    /// does not parse allows nothing).
    let credentials: [String: APICredential]
    let identityPolicies: [String: AccessPolicy]
    let account: AccountContext
    /// Signs `Code.Location` download links (random per process, so links end with the process, as AWS's expire).
    let linkKey: [UInt8]
    let now: @Sendable () -> Date
    /// What the writes need from the application (declared resources, the catalog refresh).
    let hooks: APIWriteHooks
    /// The queue of `InvocationType: Event` invokes and the store of event-invoke configurations; nil answers
    /// them with ServiceException.
    let asyncQueue: AsyncInvocationQueue?
    /// `LastModified` of provisioned-concurrency configurations the configuration file declares (they have no
    /// stored time): when this API started, `YYYY-MM-DDThh:mm:ss+0000`.
    let startedAt: String
    /// `http`, or `https` on a listener with TLS: the scheme of `Code.Location` / `Content.Location` links.
    let linkScheme: String

    public init(
        registry: Registry, threadPool: NIOThreadPool, authentication: APIAuthentication, invoke: @escaping Invoke,
        asyncQueue: AsyncInvocationQueue? = nil, hooks: APIWriteHooks = APIWriteHooks(),
        now: @escaping @Sendable () -> Date = { Date() }, linkScheme: String = "http"
    ) {
        self.linkScheme = linkScheme
        self.hooks = hooks
        self.asyncQueue = asyncQueue
        self.registry = registry
        self.threadPool = threadPool
        self.invoke = invoke
        self.authentication = authentication
        self.account = registry.account
        self.now = now
        if case .sigv4(let credentials) = authentication {
            verifier = SigV4Verifier(credentials: credentials)
            self.credentials = Dictionary(credentials.map { ($0.accessKeyId, $0) }) { first, _ in first }
            var policies: [String: AccessPolicy] = [:]
            for credential in credentials {
                guard let document = credential.policy else { continue }
                policies[credential.accessKeyId] = AccessPolicy(document: document) ?? AccessPolicy(statements: [])
            }
            identityPolicies = policies
        } else {
            verifier = nil
            credentials = [:]
            identityPolicies = [:]
        }
        linkKey = Crypto.randomBytes(32)
        let iso = CivilDate.iso8601(epochMilliseconds: Int64(now().timeIntervalSince1970 * 1000))
        startedAt = String(iso.prefix(19)) + "+0000"
    }

    /// Answers one request; never throws (every failure is an AWS error response). Adds `x-amzn-RequestId`.
    public func respond(to request: Request) async -> Response {
        var generator = SystemRandomNumberGenerator()
        let requestID = RequestID.make(using: &generator)
        var response: Response
        do {
            response = try await dispatch(request, requestID: requestID)
        } catch {
            response = .error(error)
        }
        response.headers.append(("x-amzn-RequestId", requestID))
        return response
    }

    /// The operation a request is for, or the error that answers it; the listener uses it when the head arrives,
    /// to bound the body.
    public static func route(method: String, target: String) -> Result<Router.Match, APIError> {
        if let match = Router.match(method: method, target: target) { return .success(match) }
        let path = SigV4Verifier.split(target: target).path
        return .failure(.unknownOperation(method: method, path: path))
    }

    private func dispatch(_ request: Request, requestID: String) async throws(APIError) -> Response {
        let match = try Self.route(method: request.method, target: request.target).get()
        if match.operation == .codeDeploy { return await codeDeploy(request, requestID: requestID) }
        if request.body.count > match.operation.maximumBodyBytes {
            throw .tooLarge(limit: match.operation.maximumBodyBytes, operation: match.operation.limitName)
        }
        let (region, identity) = try authenticate(request, operation: match.operation)
        let context = Context(request: request, match: match, region: region, requestID: requestID)
        try await authorize(identity, context)
        switch match.operation {
        case .getFunction: return try await getFunction(context)
        case .getFunctionConfiguration: return try await getFunctionConfiguration(context)
        case .listFunctions: return try await listFunctions(context)
        case .listVersionsByFunction: return try await listVersions(context)
        case .getAlias: return try await getAlias(context)
        case .listAliases: return try await listAliases(context)
        case .getAccountSettings: return try await accountSettings()
        case .invoke: return try await invokeFunction(context)
        case .emulatorInvoke: return try await emulatorInvoke(context)
        case .downloadCode: return try await downloadCode(context)
        case .createFunction: return try await createFunction(context)
        case .updateFunctionCode: return try await updateFunctionCode(context)
        case .updateFunctionConfiguration: return try await updateFunctionConfiguration(context)
        case .deleteFunction: return try await deleteFunction(context)
        case .publishVersion: return try await publishVersion(context)
        case .createAlias: return try await createAlias(context)
        case .updateAlias: return try await updateAlias(context)
        case .deleteAlias: return try await deleteAlias(context)
        case .tagResource: return try await tagResource(context)
        case .untagResource: return try await untagResource(context)
        case .listTags: return try await listTags(context)
        case .invokeAsync: return try await invokeAsync(context)
        case .putFunctionEventInvokeConfig: return try await putEventInvokeConfig(context)
        case .updateFunctionEventInvokeConfig: return try await updateEventInvokeConfig(context)
        case .getFunctionEventInvokeConfig: return try await getEventInvokeConfig(context)
        case .deleteFunctionEventInvokeConfig: return try await deleteEventInvokeConfig(context)
        case .listFunctionEventInvokeConfigs: return try await listEventInvokeConfigs(context)
        case .codeDeploy: return await codeDeploy(request, requestID: requestID)
        case .putFunctionConcurrency: return try await putFunctionConcurrency(context)
        case .getFunctionConcurrency: return try await getFunctionConcurrency(context)
        case .deleteFunctionConcurrency: return try await deleteFunctionConcurrency(context)
        case .putProvisionedConcurrencyConfig: return try await putProvisionedConcurrency(context)
        case .getProvisionedConcurrencyConfig: return try await getProvisionedConcurrency(context)
        case .deleteProvisionedConcurrencyConfig: return try await deleteProvisionedConcurrency(context)
        case .listProvisionedConcurrencyConfigs: return try await listProvisionedConcurrency(context)
        case .publishLayerVersion: return try await publishLayerVersion(context)
        case .getLayerVersion: return try await getLayerVersion(context)
        case .getLayerVersionByArn: return try await getLayerVersionByArn(context)
        case .listLayers: return try await listLayers(context)
        case .listLayerVersions: return try await listLayerVersions(context)
        case .deleteLayerVersion: return try await deleteLayerVersion(context)
        case .addPermission: return try await addPermission(context)
        case .removePermission: return try await removePermission(context)
        case .getPolicy: return try await getPolicy(context)
        }
    }

    /// The region requests are answered for: the credential scope's (verified with `sigv4`), else the platform's;
    /// and with `sigv4`, who signed.
    private func authenticate(
        _ request: Request, operation: Operation
    ) throws(APIError) -> (region: String, identity: SigV4Verifier.Identity?) {
        if operation == .downloadCode { return (account.region, nil) }
        if let verifier {
            let identity = try verifier.verify(
                SigV4Verifier.Request(
                    method: request.method, target: request.target, headers: request.headers, body: request.body),
                now: now())
            return (identity.region, identity)
        }
        if let header = request.header("authorization"), let parsed = SigV4Verifier.parseAuthorization(header) {
            return (parsed.region, nil)
        }
        return (account.region, nil)
    }

    /// One request's matched operation and caller region.
    struct Context {
        var request: Request
        var match: Router.Match
        var region: String
        var requestID: String

        func parameter(_ name: String) -> String { match.parameters[name] ?? "" }
    }

    /// Runs `body` on the blocking thread pool; registry errors become AWS's.
    func store<T: Sendable>(_ body: @escaping @Sendable () throws(RegistryError) -> T) async throws(APIError) -> T {
        do {
            return try await threadPool.runIfActive { () throws -> T in try body() }
        } catch let error as RegistryError {
            throw APIError(error.lambdaError)
        } catch {
            throw .service("the registry is not available: \(error)")
        }
    }

    func reference(_ context: Context) throws(APIError) -> FunctionReference {
        try FunctionReference.resolve(
            functionName: context.parameter("FunctionName"), qualifier: context.match.query("Qualifier"),
            region: context.region, account: account)
    }
}
