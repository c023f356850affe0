import AsyncInvocation
import Foundation
import LambdaModel
import NIOPosix
import Registry

/// Asynchronous invocation (§5.16 `InvocationType: Event`, §5.17 InvokeAsync, §5.26 event-invoke config): events
/// go to the durable queue (``AsyncInvocationQueue``) and are answered with 202 once stored;
/// Put/Get/Update/Delete/ListFunctionEventInvokeConfig(s) manage the retries and destinations the queue applies.
extension ControlAPI {
    /// The asynchronous invoke request limit: 1 MB (the current model text, §6; the 2023 guide said 256 KB).
    public static let maximumAsyncPayload = 1_048_576

    /// `InvocationType: Event`: stored, then 202 with an empty body (no `X-Amz-Executed-Version`).
    func enqueueEvent(_ reference: FunctionReference, _ context: Context) async throws(APIError) -> Response {
        guard let queue = asyncQueue else {
            throw .service("asynchronous invocation needs the event queue, which this server has not started")
        }
        _ = try await exists(reference)
        let request = context.request
        do {
            try await queue.enqueue(
                function: reference.name, qualifier: reference.qualifier, payload: request.body,
                traceHeader: request.header("x-amzn-trace-id"), requestID: context.requestID)
        } catch {
            throw .service("the event could not be queued: \(error)")
        }
        return Response(status: 202)
    }

    /// Over the asynchronous limit: AWS's 413, checked before the payload is parsed.
    static func checkAsyncSize(_ body: [UInt8]) throws(APIError) {
        if body.count > maximumAsyncPayload {
            throw .tooLarge(limit: maximumAsyncPayload, operation: "InvokeFunction")
        }
    }

    /// `POST /2014-11-13/functions/{FunctionName}/invoke-async/` (deprecated): the same queue, `{"Status":202}`.
    func invokeAsync(_ context: Context) async throws(APIError) -> Response {
        try Self.checkAsyncSize(context.request.body)
        let reference = try FunctionReference.resolve(
            functionName: context.parameter("FunctionName"), qualifier: nil, region: context.region, account: account)
        if !context.request.body.isEmpty,
            (try? JSONSerialization.jsonObject(with: Data(context.request.body), options: [.fragmentsAllowed])) == nil
        {
            throw APIError(
                type: "InvalidRequestContentException", status: 400,
                message: "Could not parse request body into json: the payload is not valid JSON")
        }
        _ = try await enqueueEvent(reference, context)
        return .json(202, .object([("Status", .int(202))]))
    }

    // MARK: event-invoke config

    private var eventStore: AsyncEventStore {
        get throws(APIError) {
            guard let queue = asyncQueue else {
                throw .service("event-invoke configuration needs the event queue, which this server has not started")
            }
            return queue.store
        }
    }

    /// The function (and qualifier) must exist: 404 `The function doesn't exist.` otherwise.
    private func configTarget(_ context: Context) async throws(APIError) -> (FunctionReference, qualifier: String) {
        let reference = try reference(context)
        do {
            _ = try await exists(reference)
        } catch  where error.status == 404 {
            throw .resourceNotFound("The function doesn't exist.")
        }
        return (reference, reference.qualifier ?? Registry.latest)
    }

    private func missingConfig(_ name: String, _ qualifier: String) -> APIError {
        .resourceNotFound(
            "The function \(account.functionARN(name, qualifier: qualifier)) doesn't have an EventInvokeConfig")
    }

    /// The request body's settings, as given (nil members were not given) and whether DestinationConfig was.
    private struct ConfigInput {
        var config = EventInvokeConfig()
        var onSuccessGiven = false
        var onFailureGiven = false
    }

    private func parseConfig(_ body: [UInt8]) throws(APIError) -> ConfigInput {
        let object: [String: Any]
        if body.isEmpty {
            object = [:]
        } else {
            guard let parsed = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
                throw APIError(type: "SerializationException", status: 400, message: "The request body is not JSON")
            }
            object = parsed
        }
        var input = ConfigInput()
        var violations: [LambdaError.ConstraintViolation] = []
        func integer(_ key: String, member: String, range: ClosedRange<Int>) -> Int? {
            guard let value = object[key] else { return nil }
            guard let number = value as? NSNumber, let int = Int(exactly: number.doubleValue) else {
                violations.append(.init(value: "\(value)", member: member, constraint: "Member must be an integer"))
                return nil
            }
            if int < range.lowerBound {
                violations.append(
                    .init(
                        value: "\(int)", member: member,
                        constraint: "Member must have value greater than or equal to \(range.lowerBound)"))
            } else if int > range.upperBound {
                violations.append(
                    .init(
                        value: "\(int)", member: member,
                        constraint: "Member must have value less than or equal to \(range.upperBound)"))
            }
            return int
        }
        input.config.maximumRetryAttempts = integer(
            "MaximumRetryAttempts", member: "maximumRetryAttempts", range: EventInvokeConfig.retryAttemptsRange)
        input.config.maximumEventAgeInSeconds = integer(
            "MaximumEventAgeInSeconds", member: "maximumEventAgeInSeconds", range: EventInvokeConfig.eventAgeRange)
        if let destinations = object["DestinationConfig"] as? [String: Any] {
            for (key, member) in [("OnSuccess", "onSuccess"), ("OnFailure", "onFailure")] {
                guard let entry = destinations[key] as? [String: Any] else { continue }
                if key == "OnSuccess" { input.onSuccessGiven = true } else { input.onFailureGiven = true }
                guard let arn = entry["Destination"] as? String, !arn.isEmpty else { continue }
                if arn.utf8.count > 350 || !DestinationTarget.isWellFormed(arn) {
                    violations.append(
                        .init(
                            value: arn, member: "destinationConfig.\(member).destination",
                            constraint: arn.utf8.count > 350
                                ? "Member must have length less than or equal to 350"
                                : "Member must satisfy regular expression pattern: "
                                    + #"^$|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:([a-z]{2}(-gov)?-[a-z]+-\d{1})?:(\d{12})?:(.*)"#
                        ))
                }
                if key == "OnSuccess" { input.config.onSuccess = arn } else { input.config.onFailure = arn }
            }
        }
        if !violations.isEmpty { throw APIError(LambdaError.validation(violations)) }
        return input
    }

    /// AWS's checks of a configuration about to be stored (§5.26 observed errors).
    private func checkConfig(_ config: EventInvokeConfig, function: String) async throws(APIError) {
        if config.isEmpty {
            throw .invalidParameter("You must specify at least one of error handling or destination setting.")
        }
        func describe(_ arn: String?, _ name: String) -> String {
            arn.map { "\(name)(destination=\($0))" } ?? "null"
        }
        let invalidConfig = APIError.invalidParameter(
            "The provided destination config DestinationConfig(onSuccess=\(describe(config.onSuccess, "OnSuccess")), "
                + "onFailure=\(describe(config.onFailure, "OnFailure"))) is invalid.")
        for (arn, forFailure) in [(config.onSuccess, false), (config.onFailure, true)] {
            guard let arn else { continue }
            guard let target = DestinationTarget.parse(arn, forFailure: forFailure) else { throw invalidConfig }
            guard case .function(let name, let qualifier) = target else { continue }
            if name == function {
                throw .invalidParameter("You can't specify the function as a destination for itself.")
            }
            do {
                _ = try await exists(FunctionReference(name: name, qualifier: qualifier))
            } catch {
                throw .invalidParameter("The destination ARN \(arn) is invalid.")
            }
        }
    }

    private func configDocument(_ stored: AsyncEventStore.StoredConfig) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("LastModified", .double((stored.lastModified * 1000).rounded() / 1000)),
            ("FunctionArn", .string(account.functionARN(stored.function, qualifier: stored.qualifier))),
        ]
        if let retries = stored.config.maximumRetryAttempts { members.append(("MaximumRetryAttempts", .int(retries))) }
        if let age = stored.config.maximumEventAgeInSeconds { members.append(("MaximumEventAgeInSeconds", .int(age))) }
        func destination(_ arn: String?) -> JSONValue { .object(arn.map { [("Destination", .string($0))] } ?? []) }
        members.append(
            (
                "DestinationConfig",
                .object([
                    ("OnSuccess", destination(stored.config.onSuccess)),
                    ("OnFailure", destination(stored.config.onFailure)),
                ])
            ))
        return .object(members)
    }

    /// Runs a store call of the queue on the thread pool.
    private func queueStore<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws(APIError) -> T {
        do {
            return try await threadPool.runIfActive(body)
        } catch {
            throw .service("the event queue is not available: \(error)")
        }
    }

    /// PutFunctionEventInvokeConfig: replaces the configuration.
    func putEventInvokeConfig(_ context: Context) async throws(APIError) -> Response {
        let store = try eventStore
        let input = try parseConfig(context.request.body)
        let (reference, qualifier) = try await configTarget(context)
        try await checkConfig(input.config, function: reference.name)
        let now = self.now().timeIntervalSince1970
        let stored = try await queueStore {
            try store.putConfig(function: reference.name, qualifier: qualifier, input.config, now: now)
        }
        return .json(200, configDocument(stored))
    }

    /// UpdateFunctionEventInvokeConfig: merges into the existing configuration.
    func updateEventInvokeConfig(_ context: Context) async throws(APIError) -> Response {
        let store = try eventStore
        let input = try parseConfig(context.request.body)
        let (reference, qualifier) = try await configTarget(context)
        guard
            var merged = try await queueStore({ try store.config(function: reference.name, qualifier: qualifier) })?
                .config
        else { throw missingConfig(reference.name, qualifier) }
        if let retries = input.config.maximumRetryAttempts { merged.maximumRetryAttempts = retries }
        if let age = input.config.maximumEventAgeInSeconds { merged.maximumEventAgeInSeconds = age }
        if input.onSuccessGiven { merged.onSuccess = input.config.onSuccess }
        if input.onFailureGiven { merged.onFailure = input.config.onFailure }
        if input.config.isEmpty && !input.onSuccessGiven && !input.onFailureGiven {
            throw .invalidParameter("You must specify at least one of error handling or destination setting.")
        }
        try await checkConfig(merged, function: reference.name)
        let now = self.now().timeIntervalSince1970
        let result = merged
        let stored = try await queueStore {
            try store.putConfig(function: reference.name, qualifier: qualifier, result, now: now)
        }
        return .json(200, configDocument(stored))
    }

    func getEventInvokeConfig(_ context: Context) async throws(APIError) -> Response {
        let store = try eventStore
        let (reference, qualifier) = try await configTarget(context)
        guard let stored = try await queueStore({ try store.config(function: reference.name, qualifier: qualifier) })
        else { throw missingConfig(reference.name, qualifier) }
        return .json(200, configDocument(stored))
    }

    func deleteEventInvokeConfig(_ context: Context) async throws(APIError) -> Response {
        let store = try eventStore
        let (reference, qualifier) = try await configTarget(context)
        let deleted = try await queueStore { try store.deleteConfig(function: reference.name, qualifier: qualifier) }
        guard deleted else { throw missingConfig(reference.name, qualifier) }
        return Response(status: 204)
    }

    /// ListFunctionEventInvokeConfigs: every qualifier's configuration of the function (MaxItems 1–50).
    func listEventInvokeConfigs(_ context: Context) async throws(APIError) -> Response {
        let store = try eventStore
        if let text = context.match.query("MaxItems"), let value = Int(text), value > 50 {
            throw .validation(
                value: text, member: "maxItems", constraint: "Member must have value less than or equal to 50")
        }
        let paging = try Paging(context.match)
        let reference = try FunctionReference.resolve(
            functionName: context.parameter("FunctionName"), qualifier: nil, region: context.region, account: account)
        do {
            _ = try await exists(FunctionReference(name: reference.name, qualifier: nil))
        } catch  where error.status == 404 {
            throw .resourceNotFound("The function doesn't exist.")
        }
        let all = try await queueStore { try store.configs(function: reference.name) }
        let (page, next) = try paging.page(all) { $0.qualifier }
        return .json(200, Paging.wrap("FunctionEventInvokeConfigs", page.map(configDocument), next: next))
    }
}
