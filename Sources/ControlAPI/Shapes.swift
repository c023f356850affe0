import Foundation
import LambdaModel
import Registry

/// The response documents of the reference's §4 and §5: FunctionConfiguration, AliasConfiguration and the list
/// wrappers, built from the registry's records with AWS's member names, order and defaults.
enum Shapes {
    /// How much of a FunctionConfiguration a call shows (§4.1, §4.3).
    struct ConfigurationStyle {
        /// The `FunctionArn` to show (qualified or not, per §4.3).
        var functionArn: String
        /// List outputs leave out State, LastUpdateStatus and RuntimeVersionConfig.
        var forList: Bool
        /// What State / LastUpdateStatus show (§4.2).
        var state: LifecycleState = .settled
    }

    /// The §4.2 states a response shows. Writes here are finished when they answer (the catalog already serves
    /// them), so Get* always shows `Active` / `Successful`; the responses of the writes themselves show what AWS's
    /// do (`Pending` for a new function or version, `InProgress` for an update), so that callers written for AWS
    /// take their waiter path, and the waiter returns on its first poll.
    enum LifecycleState {
        case settled
        /// CreateFunction, or a version published by `Publish`: Pending, no LastUpdateStatus.
        case creating
        /// UpdateFunctionCode / UpdateFunctionConfiguration: Active, InProgress.
        case updating
    }

    /// The execution role: the one CreateFunction or UpdateFunctionConfiguration gave (functions here run as the
    /// local user whatever it names), and for a function of the configuration file, which names none,
    /// `albatross-<function>`, since AWS always returns one.
    static func role(_ record: FunctionVersionRecord, account: AccountContext) -> String {
        record.role ?? "arn:aws:iam::\(account.accountID):role/albatross-\(record.functionName)"
    }

    static let architecture: String = {
        #if arch(arm64)
            return "arm64"
        #else
            return "x86_64"
        #endif
    }()

    static func functionConfiguration(
        _ record: FunctionVersionRecord, style: ConfigurationStyle, account: AccountContext,
        layerCodeSize: (String) -> Int?, deadLetterTarget: String? = nil
    ) -> JSONValue {
        let configuration = record.configuration
        var members: [(String, JSONValue)] = [
            ("FunctionName", .string(record.functionName)),
            ("FunctionArn", .string(style.functionArn)),
            ("Runtime", .string(configuration.runtime.identifier)),
            ("Role", .string(role(record, account: account))),
            ("Handler", .string(configuration.handler)),
            ("CodeSize", .int(record.codeSize)),
            ("Description", .string(record.description)),
            ("Timeout", .int(configuration.timeout)),
            ("MemorySize", .int(configuration.memorySize)),
            ("LastModified", .string(record.lastModified)),
            ("CodeSha256", .string(record.codeSha256)),
            ("Version", .string(record.version)),
        ]
        if let deadLetterTarget {
            members.append(("DeadLetterConfig", .object([("TargetArn", .string(deadLetterTarget))])))
        }
        if !configuration.environment.isEmpty {
            members.append(
                (
                    "Environment",
                    .object([
                        ("Variables", .object(configuration.environment.map { ($0.name, .string($0.value)) }))
                    ])
                ))
        }
        members.append(("TracingConfig", .object([("Mode", .string(configuration.tracing.mode.rawValue))])))
        members.append(("RevisionId", .string(record.revisionId)))
        if !configuration.layers.isEmpty {
            members.append(
                (
                    "Layers",
                    .array(
                        configuration.layers.map { arn in
                            .object([("Arn", .string(arn)), ("CodeSize", .int(layerCodeSize(arn) ?? 0))])
                        })
                ))
        }
        if !style.forList {
            switch style.state {
            case .settled:
                members.append(("State", .string("Active")))
                members.append(("LastUpdateStatus", .string("Successful")))
            case .creating:
                members.append(("State", .string("Pending")))
                members.append(("StateReason", .string("The function is being created.")))
                members.append(("StateReasonCode", .string("Creating")))
            case .updating:
                members.append(("State", .string("Active")))
                members.append(("LastUpdateStatus", .string("InProgress")))
                members.append(("LastUpdateStatusReason", .string("The function is being created.")))
                members.append(("LastUpdateStatusReasonCode", .string("Creating")))
            }
        }
        members.append(("PackageType", .string("Zip")))
        members.append(("Architectures", .array([.string(architecture)])))
        members.append(("EphemeralStorage", .object([("Size", .int(512))])))
        members.append(("SnapStart", .object([("ApplyOn", .string("None")), ("OptimizationStatus", .string("Off"))])))
        let logging = configuration.logging
        var loggingMembers: [(String, JSONValue)] = [("LogFormat", .string(logging.logFormat.rawValue))]
        if let level = logging.applicationLogLevel {
            loggingMembers.append(("ApplicationLogLevel", .string(level.rawValue)))
        }
        if let level = logging.systemLogLevel { loggingMembers.append(("SystemLogLevel", .string(level.rawValue))) }
        loggingMembers.append(("LogGroup", .string(logging.logGroupName(functionName: record.functionName))))
        members.append(("LoggingConfig", .object(loggingMembers)))
        if !style.forList {
            members.append(
                (
                    "RuntimeVersionConfig",
                    .object([("RuntimeVersionArn", .string(runtimeVersionArn(configuration.runtime, account: account)))]
                    )
                ))
        }
        return .object(members)
    }

    /// `arn:aws:lambda:<region>::runtime:<64 hex>`: stable per runtime identifier.
    static func runtimeVersionArn(_ runtime: Runtime, account: AccountContext) -> String {
        "arn:aws:lambda:\(account.region)::runtime:\(Crypto.hex(Crypto.sha256(Array(runtime.identifier.utf8))))"
    }

    static func alias(_ alias: AliasRecord) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("AliasArn", .string(alias.arn)),
            ("Name", .string(alias.name)),
            ("FunctionVersion", .string(alias.routing.primaryVersion)),
            ("Description", .string(alias.description)),
        ]
        if let additional = alias.routing.additionalVersion {
            members.append(
                (
                    "RoutingConfig",
                    .object([
                        ("AdditionalVersionWeights", .object([(additional, .double(alias.routing.additionalWeight))]))
                    ])
                ))
        }
        members.append(("RevisionId", .string(alias.revisionId)))
        return .object(members)
    }

    /// GetAccountSettings: AWS's default code quotas, the server's concurrency (`environments.concurrentExecutions`
    /// less every reservation); the usage is the store's.
    static func accountSettings(
        totalCodeSize: Int, functionCount: Int, concurrentExecutions: Int, unreservedConcurrentExecutions: Int
    ) -> JSONValue {
        .object([
            (
                "AccountLimit",
                .object([
                    ("TotalCodeSize", .int(80_530_636_800)),
                    ("CodeSizeUnzipped", .int(262_144_000)),
                    ("CodeSizeZipped", .int(52_428_800)),
                    ("ConcurrentExecutions", .int(concurrentExecutions)),
                    ("UnreservedConcurrentExecutions", .int(unreservedConcurrentExecutions)),
                ])
            ),
            (
                "AccountUsage",
                .object([("TotalCodeSize", .int(totalCodeSize)), ("FunctionCount", .int(functionCount))])
            ),
        ])
    }
}
