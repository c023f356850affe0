import Foundation

/// CodeDeploy's `PutLifecycleEventHookExecutionStatus` (JSON 1.1, `X-Amz-Target:
/// CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus`, `POST /`), the one CodeDeploy operation served: a
/// rollout's hook function written for AWS reports its result with boto3's
/// `codedeploy.put_lifecycle_event_hook_execution_status(...)`. The rollout runner answers it through
/// ``APIWriteHooks/lifecycleHookStatus``; signatures, with `sigv4`, are checked for the `codedeploy` service.
public struct LifecycleHookStatusRequest: Sendable, Hashable {
    public var deploymentId: String?
    public var lifecycleEventHookExecutionId: String?
    public var status: String?
}

extension ControlAPI {
    static let codeDeployTargetPrefix = "CodeDeploy_20141006."

    func codeDeploy(_ request: Request, requestID: String) async -> Response {
        let target = request.header("x-amz-target") ?? ""
        guard target.hasPrefix(Self.codeDeployTargetPrefix) else {
            return Self.codeDeployError(
                400, "UnknownOperationException",
                "POST / needs X-Amz-Target CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus (see docs/rollouts.md)"
            )
        }
        let operation = target.dropFirst(Self.codeDeployTargetPrefix.count)
        guard operation == "PutLifecycleEventHookExecutionStatus" else {
            return Self.codeDeployError(
                400, "UnknownOperationException", "Albatross serves no CodeDeploy operation \(operation)")
        }
        if case .sigv4(let credentials) = authentication {
            do {
                _ = try SigV4Verifier(credentials: credentials, service: "codedeploy").verify(
                    SigV4Verifier.Request(
                        method: request.method, target: request.target, headers: request.headers, body: request.body),
                    now: now())
            } catch {
                return Self.codeDeployError(error.status, error.type, error.message)
            }
        }
        guard let report = hooks.lifecycleHookStatus else {
            return Self.codeDeployError(
                400, "DeploymentDoesNotExistException", "this server runs no rollouts (it has no store)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any] else {
            return Self.codeDeployError(400, "SerializationException", "the body must be a JSON object")
        }
        let answer = await report(
            LifecycleHookStatusRequest(
                deploymentId: object["deploymentId"] as? String,
                lifecycleEventHookExecutionId: object["lifecycleEventHookExecutionId"] as? String,
                status: object["status"] as? String))
        switch answer {
        case .success(let executionID):
            let body =
                (try? JSONSerialization.data(withJSONObject: ["lifecycleEventHookExecutionId": executionID]))
                .map { Array($0) } ?? []
            return Response(status: 200, headers: [("Content-Type", "application/x-amz-json-1.1")], body: body)
        case .failure(let error):
            return Self.codeDeployError(400, error.type, error.message)
        }
    }

    /// JSON 1.1's error shape: `{"__type": "<Exception>", "message": "…"}`, the type in `x-amzn-ErrorType` too.
    static func codeDeployError(_ status: Int, _ type: String, _ message: String) -> Response {
        let body =
            (try? JSONSerialization.data(withJSONObject: ["__type": type, "message": message], options: [.sortedKeys]))
            .map { Array($0) } ?? []
        return Response(
            status: status, headers: [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", type)],
            body: body)
    }
}

/// A refused lifecycle hook report: CodeDeploy's exception name and message.
public struct LifecycleHookStatusError: Error, Sendable, Hashable {
    public var type: String
    public var message: String

    public init(type: String, message: String) {
        self.type = type
        self.message = message
    }
}
