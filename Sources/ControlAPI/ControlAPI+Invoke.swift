import Foundation
import InvocationModel
import LambdaModel
import NIOCore
import Registry

/// Invoke (§5.16): RequestResponse and DryRun, `Qualifier`, `LogType: Tail`, `X-Amz-Client-Context`, payload
/// limits; and the runtime interface emulator's endpoint, which invokes the only function there is.
extension ControlAPI {
    enum InvocationType: String {
        case requestResponse = "RequestResponse"
        case event = "Event"
        case dryRun = "DryRun"
    }

    func invokeFunction(_ context: Context) async throws(APIError) -> Response {
        try await invoke(try reference(context), context)
    }

    /// `POST /2015-03-31/functions/function/invocations`: a function named `function` if there is one, else the
    /// only function in the store.
    func emulatorInvoke(_ context: Context) async throws(APIError) -> Response {
        let registry = self.registry
        let names = try await store { () throws(RegistryError) in try registry.functions().map(\.functionName) }
        let name: String
        if names.contains("function") {
            name = "function"
        } else if names.count == 1 {
            name = names[0]
        } else {
            throw .resourceNotFound(
                "The emulator endpoint invokes the only function, but there are \(names.count); use "
                    + "/2015-03-31/functions/<name>/invocations")
        }
        return try await invoke(FunctionReference(name: name, qualifier: context.match.query("Qualifier")), context)
    }

    private func invoke(_ reference: FunctionReference, _ context: Context) async throws(APIError) -> Response {
        let request = context.request
        let typeText = request.header("x-amz-invocation-type") ?? "RequestResponse"
        guard let type = InvocationType(rawValue: typeText) else {
            throw .validation(
                value: typeText, member: "invocationType",
                constraint: "Member must satisfy enum value set: [Event, RequestResponse, DryRun]")
        }
        let logType = request.header("x-amz-log-type") ?? "None"
        guard logType == "None" || logType == "Tail" else {
            throw .validation(
                value: logType, member: "logType", constraint: "Member must satisfy enum value set: [None, Tail]")
        }
        if type == .event { try Self.checkAsyncSize(request.body) }
        let clientContext = try Self.clientContext(request.header("x-amz-client-context"))
        if !request.body.isEmpty,
            (try? JSONSerialization.jsonObject(with: Data(request.body), options: [.fragmentsAllowed])) == nil
        {
            var detail = "the payload is not valid JSON"
            do {
                _ = try JSONSerialization.jsonObject(with: Data(request.body), options: [.fragmentsAllowed])
            } catch { detail = "\(error.localizedDescription)" }
            throw APIError(
                type: "InvalidRequestContentException", status: 400,
                message: "Could not parse request body into json: Could not parse payload into json: \(detail)")
        }
        switch type {
        case .event:
            return try await enqueueEvent(reference, context)
        case .dryRun:
            _ = try await exists(reference)
            return Response(status: 204)
        case .requestResponse:
            break
        }
        var payload = ByteBuffer()
        if request.body.isEmpty { payload.writeString("{}") } else { payload.writeBytes(request.body) }
        let invokeRequest = InvokeRequest(
            functionName: reference.name, qualifier: reference.qualifier, payload: payload,
            traceHeader: request.header("x-amzn-trace-id"), clientContext: clientContext,
            wantsReport: logType == "Tail", headers: request.headers, clientAddress: request.clientAddress,
            requestID: context.requestID)
        let outcome: InvocationOutcome
        do {
            outcome = try await invoke(invokeRequest)
        } catch let error as InvocationError {
            throw Self.apiError(error, reference: reference, account: account)
        } catch {
            throw .service("the invoke failed: \(error)")
        }
        var headers: [(name: String, value: String)] = [
            ("Content-Type", outcome.contentType ?? "application/json"),
            ("X-Amz-Executed-Version", outcome.executedVersion),
        ]
        if let functionError = outcome.functionError { headers.append(("X-Amz-Function-Error", functionError)) }
        if logType == "Tail" {
            let tail = (outcome.logTail ?? []).suffix(4096)
            headers.append(("X-Amz-Log-Result", Data(tail).base64EncodedString()))
        }
        return Response(status: 200, headers: headers, body: Array(outcome.payload.readableBytesView))
    }

    /// DryRun: the version or alias exists (as Invoke would find it).
    func exists(_ reference: FunctionReference) async throws(APIError) -> Bool {
        let registry = self.registry
        let account = self.account
        let qualifier = reference.qualifier ?? Registry.latest
        do {
            return try await store { () throws(RegistryError) in
                if qualifier == Registry.latest || qualifier.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
                    _ = try registry.version(functionName: reference.name, version: qualifier)
                } else {
                    _ = try registry.alias(functionName: reference.name, name: qualifier)
                }
                return true
            }
        } catch  where error.status == 404 || error.type == "ValidationException" {
            throw .resourceNotFound("Function not found: \(account.functionARN(reference.name, qualifier: qualifier))")
        }
    }

    /// `X-Amz-Client-Context`: base64 of a JSON object, at most 3,583 bytes; handed to the runtime decoded.
    static func clientContext(_ header: String?) throws(APIError) -> String? {
        guard let header else { return nil }
        if header.utf8.count > 3583 {
            throw .validation(
                value: header, member: "clientContext", constraint: "Member must have length less than or equal to 3583"
            )
        }
        guard let data = Data(base64Encoded: header),
            (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] != nil,
            let text = String(data: data, encoding: .utf8)
        else {
            throw APIError(
                type: "InvalidRequestContentException", status: 400,
                message: "Client context must be a valid Base64-encoded JSON object.")
        }
        return text
    }

    /// An invoke that never reached the function, as AWS answers it.
    static func apiError(_ error: InvocationError, reference: FunctionReference, account: AccountContext) -> APIError {
        switch error.kind {
        case .throttled:
            var throttled = APIError(
                type: "TooManyRequestsException", status: 429, message: "Rate Exceeded.",
                reason: error.reason ?? "ReservedFunctionConcurrentInvocationLimitExceeded")
            // The model reads `retryAfterSeconds` from this header; whether AWS sends it is unconfirmed
            // (runtime-api.md §9 item 10). A concurrency slot frees when an invoke ends, so 1 s.
            throttled.retryAfterSeconds = "1"
            return throttled
        case .resourceNotFound:
            return .resourceNotFound(
                "Function not found: \(account.functionARN(reference.name, qualifier: reference.qualifier ?? Registry.latest))"
            )
        case .requestTooLarge:
            return .tooLarge(limit: Router.maximumInvokePayload, operation: "InvokeFunction")
        default:
            return .service(error.message)
        }
    }
}
