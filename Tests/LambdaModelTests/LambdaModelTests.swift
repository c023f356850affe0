import Testing

@testable import LambdaModel

/// ARNs, names, runtimes, stickiness keys and the redaction of environment variable values: the pure model every
/// other module (store, configuration, CLI, front end) builds on.
struct ARNTests {
    @Test func functionARNsWithAndWithoutQualifier() {
        let account = AccountContext()
        #expect(account.region == "us-east-1" && account.accountID == "123456789012")
        #expect(account.functionARN("orders") == "arn:aws:lambda:us-east-1:123456789012:function:orders")
        #expect(
            account.functionARN("orders", qualifier: "7") == "arn:aws:lambda:us-east-1:123456789012:function:orders:7")
        #expect(
            account.functionARN("orders", qualifier: "$LATEST")
                == "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST")
        let other = AccountContext(region: "eu-west-3", accountID: "000000000042")
        #expect(other.functionARN("f", qualifier: "live") == "arn:aws:lambda:eu-west-3:000000000042:function:f:live")
    }

    @Test func layerARNs() {
        let account = AccountContext(region: "ap-south-1", accountID: "111122223333")
        #expect(account.layerARN("common") == "arn:aws:lambda:ap-south-1:111122223333:layer:common")
        #expect(
            account.layerVersionARN("common", version: 12) == "arn:aws:lambda:ap-south-1:111122223333:layer:common:12")
    }

    /// The suffix is FNV-1a 64 of the name (published test vectors), so the ARN is the same on every start.
    @Test(arguments: [
        ("a", "af63dc4c8601ec8c"),
        ("foobar", "85944171f73967e8"),
        ("", "cbf29ce484222325"),
    ])
    func targetGroupARNSuffixIsStable(name: String, hex: String) {
        #expect(AccountContext.stableHex(name) == hex)
        #expect(
            AccountContext().targetGroupARN(name)
                == "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/\(name)/\(hex)")
    }

    @Test func targetGroupSuffixIsAlwaysSixteenHexDigits() {
        // Leading zeros are kept: search a name whose hash is below 2^60.
        let name = (0..<100_000).lazy.map { "tg-\($0)" }.first { AccountContext.stableHex($0).hasPrefix("0") }
        let hex = AccountContext.stableHex(name ?? "")
        #expect(name != nil && hex.count == 16 && hex.hasPrefix("0"), "\(String(describing: name)) → \(hex)")
        for sample in ["x", "checkout-tg", String(repeating: "z", count: 32)] {
            #expect(AccountContext.stableHex(sample).wholeMatch(of: #/[0-9a-f]{16}/#) != nil)
        }
    }

    @Test func layerVersionARNsAreParsedStrictly() throws {
        let parsed = try #require(LayerNames.VersionARN("arn:aws:lambda:us-east-1:123456789012:layer:common-libs_2:3"))
        #expect(parsed.partition == "aws" && parsed.region == "us-east-1" && parsed.accountID == "123456789012")
        #expect(parsed.name == "common-libs_2" && parsed.version == 3)
        #expect(parsed.layerARN == "arn:aws:lambda:us-east-1:123456789012:layer:common-libs_2")
        #expect(LayerNames.VersionARN("arn:aws-cn:lambda:cn-north-1:123456789012:layer:x:1")?.partition == "aws-cn")
        let refused = [
            "arn:aws:lambda:us-east-1:123456789012:layer:common",  // no version
            "arn:aws:lambda:us-east-1:123456789012:layer:common:",  // empty version
            "arn:aws:lambda:us-east-1:123456789012:layer:common:v1",
            "arn:aws:lambda:us-east-1:12345678901:layer:common:1",  // 11-digit account
            "arn:aws:lambda:us-east-1:12345678901a:layer:common:1",
            "arn:aws:lambda:us-east-1:123456789012:function:common:1",
            "arn:aws:s3:us-east-1:123456789012:layer:common:1",
            "arn:aws:lambda:us_east_1:123456789012:layer:common:1",
            "arn:aws:lambda:us-east-1:123456789012:layer:com.mon:1",
            "arn:aws:lambda::123456789012:layer:common:1",
            "arn:aws:lambda:us-east-1:123456789012:layer:common:1:2",
            "common:1",
            "arn:aws:lambda:us-east-1:123456789012:layer:" + String(repeating: "n", count: 96) + ":1",  // 141 chars
        ]
        for arn in refused { #expect(LayerNames.VersionARN(arn) == nil, "\(arn)") }
        let longest = "arn:aws:lambda:us-east-1:123456789012:layer:" + String(repeating: "n", count: 94) + ":1"
        #expect(longest.utf8.count == 140 && LayerNames.VersionARN(longest) != nil)
    }
}

struct NameTests {
    @Test func functionNames() {
        #expect(LambdaNames.validateFunctionName("my-Function_01") == nil)
        #expect(LambdaNames.validateFunctionName(String(repeating: "f", count: 64)) == nil)
        #expect(
            LambdaNames.validateFunctionName(String(repeating: "f", count: 65))
                == "function name must be 1 to 64 characters long")
        #expect(LambdaNames.validateFunctionName("") == "function name must be 1 to 64 characters long")
        for bad in ["a.b", "a b", "a:b", "é"] {
            #expect(
                LambdaNames.validateFunctionName(bad)
                    == "function name may contain only letters, digits, hyphens (-) and underscores (_)", "\(bad)")
        }
    }

    @Test func targetGroupNames() {
        #expect(LambdaNames.validateTargetGroupName("web-1") == nil)
        #expect(LambdaNames.validateTargetGroupName(String(repeating: "t", count: 32)) == nil)
        #expect(
            LambdaNames.validateTargetGroupName(String(repeating: "t", count: 33))
                == "target group name must be 1 to 32 characters long")
        #expect(
            LambdaNames.validateTargetGroupName("-web") == "target group name must not begin or end with a hyphen")
        #expect(
            LambdaNames.validateTargetGroupName("web-") == "target group name must not begin or end with a hyphen")
        #expect(
            LambdaNames.validateTargetGroupName("web_1")
                == "target group name may contain only letters, digits and hyphens")
    }

    @Test func environmentVariableNames() {
        #expect(LambdaNames.validateEnvironmentVariableName("API_KEY_2") == nil)
        #expect(LambdaNames.validateEnvironmentVariableName("x") == nil)
        for bad in ["", "2FAST", "_HIDDEN"] {
            #expect(
                LambdaNames.validateEnvironmentVariableName(bad)
                    == "environment variable names must start with a letter", "\(bad)")
        }
        #expect(
            LambdaNames.validateEnvironmentVariableName("A-B")
                == "environment variable names may contain only letters, digits and underscores")
        for reserved in ["AWS_REGION", "_HANDLER", "AWS_LAMBDA_RUNTIME_API", "AWS_SESSION_TOKEN", "LAMBDA_TASK_ROOT"] {
            #expect(LambdaNames.reservedEnvironmentVariables.contains(reserved), "\(reserved)")
        }
        // Users may set these (runtime-api.md §3.1).
        for allowed in ["TZ", "PATH", "LANG", "LD_LIBRARY_PATH", "AWS_LAMBDA_LOG_LEVEL"] {
            #expect(!LambdaNames.reservedEnvironmentVariables.contains(allowed), "\(allowed)")
        }
    }

    @Test func layerNames() {
        #expect(LayerNames.validateLayerName("common_libs-2") == nil)
        #expect(LayerNames.validateLayerName(String(repeating: "l", count: 140)) == nil)
        #expect(
            LayerNames.validateLayerName(String(repeating: "l", count: 141))
                == "layer name must be 1 to 140 characters long")
        #expect(LayerNames.validateLayerName("") == "layer name must be 1 to 140 characters long")
        #expect(
            LayerNames.validateLayerName("a/b")
                == "layer name may contain only letters, digits, hyphens (-) and underscores (_)")
        #expect(LayerNames.maximumLayersPerFunction == 5)
    }

    @Test func runtimes() throws {
        for identifier in Runtime.supportedIdentifiers {
            let runtime = try #require(Runtime(identifier: identifier), "\(identifier)")
            #expect(runtime.identifier == identifier && runtime.description == identifier)
            let python = identifier.hasPrefix("python")
            #expect(runtime.kind == (python ? .python : .provided))
            #expect(runtime.executionEnvironment == (python ? "AWS_Lambda_\(identifier)" : nil))
        }
        for unsupported in ["nodejs20.x", "python3.8", "python3", "provided.al2024", "java21", ""] {
            #expect(Runtime(identifier: unsupported) == nil, "\(unsupported)")
        }
        #expect(
            Runtime(identifier: "python3.12", pythonInterpreter: "/venv/bin/python")?.pythonInterpreter
                == "/venv/bin/python")
    }

    @Test func stickinessKeysRoundTrip() {
        #expect(Stickiness("header:X-User") == .header("x-user"), "header names are case-insensitive")
        #expect(Stickiness("cookie:Session") == .cookie("Session"), "cookie names are not")
        #expect(Stickiness("client-address") == .clientAddress)
        for bad in ["header:", "cookie:", "client", "Header:x", "client-address:1", ""] {
            #expect(Stickiness(bad) == nil, "\(bad)")
        }
        for value in [Stickiness.header("x-user"), .cookie("Session"), .clientAddress] {
            #expect(Stickiness(value.description) == value)
        }
        #expect(AliasRouting(primaryVersion: "1").additionalVersion == nil)
    }
}

struct ErrorTests {
    @Test func errorTypesCarryAWSStatuses() {
        let statuses: [(LambdaError.ErrorType, Int, String)] = [
            (.resourceNotFound, 404, "ResourceNotFoundException"),
            (.invalidParameterValue, 400, "InvalidParameterValueException"),
            (.validation, 400, "ValidationException"),
            (.resourceConflict, 409, "ResourceConflictException"),
            (.preconditionFailed, 412, "PreconditionFailedException"),
            (.service, 500, "ServiceException"),
        ]
        for (type, status, name) in statuses {
            let error = LambdaError(type, "m")
            #expect(error.httpStatus == status && type.rawValue == name)
            #expect(error.description == "\(name): m")
        }
        #expect(LambdaError.revisionMismatch.httpStatus == 412)
        #expect(
            LambdaError.revisionMismatch.message
                == "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API "
                + "to retrieve the latest Revision Id")
    }

    @Test func validationMessagesCountAndListEveryViolation() {
        let one = LambdaError.validation([.init(value: "v", member: "m", constraint: "c")])
        #expect(one.type == .validation)
        #expect(one.message == "1 validation error detected: Value 'v' at 'm' failed to satisfy constraint: c")
        let two = LambdaError.validation([
            .init(value: "a", member: "x", constraint: "c1"), .init(value: "b", member: "y", constraint: "c2"),
        ])
        #expect(
            two.message
                == "2 validation errors detected: Value 'a' at 'x' failed to satisfy constraint: c1; Value 'b' at 'y' "
                + "failed to satisfy constraint: c2")
    }
}

struct AliasValidationMessageTests {
    static let pattern = "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"

    @Test func anEmptyNameViolatesThePatternAndTheMinimumLength() {
        #expect(
            throws: LambdaError(
                .validation,
                "2 validation errors detected: Value '' at 'name' failed to satisfy constraint: \(Self.pattern); "
                    + "Value '' at 'name' failed to satisfy constraint: Member must have length greater than or "
                    + "equal to 1")
        ) {
            try AliasValidation.validate(
                name: "", functionVersion: "1", additionalVersionWeights: [:], description: nil)
        }
    }

    /// Members in request order: name, functionVersion, description, routingConfig.
    @Test func everyViolatedConstraintIsListedInRequestOrder() {
        let description = String(repeating: "d", count: 257)
        let message =
            "5 validation errors detected: Value '1' at 'name' failed to satisfy constraint: \(Self.pattern); "
            + "Value '' at 'functionVersion' failed to satisfy constraint: Member must satisfy regular expression "
            + "pattern: (\\$LATEST|[0-9]+); "
            + "Value '' at 'functionVersion' failed to satisfy constraint: Member must have length greater than or "
            + "equal to 1; "
            + "Value '\(description)' at 'description' failed to satisfy constraint: Member must have length less "
            + "than or equal to 256; "
            + "Value '{x=0.5}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map keys "
            + "must satisfy constraint: [Member must have length less than or equal to 1024, Member must have "
            + "length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+]"
        #expect(throws: LambdaError(.validation, message)) {
            try AliasValidation.validate(
                name: "1", functionVersion: "", additionalVersionWeights: ["x": 0.5], description: description)
        }
    }

    @Test func aBadKeyAndABadWeightAreTwoViolationsOfOneMember() {
        #expect {
            try AliasValidation.validate(
                name: "live", functionVersion: "1", additionalVersionWeights: ["v2": 7], description: nil)
        } throws: { error in
            let message = (error as? LambdaError)?.message ?? ""
            return message.hasPrefix("2 validation errors detected: Value '{v2=7.0}' at 'routingConfig.")
                && message.contains("Map keys must satisfy constraint")
                && message.contains(
                    "; Value '{v2=7.0}' at 'routingConfig.additionalVersionWeights' failed to satisfy "
                        + "constraint: Map value must satisfy constraint")
        }
    }

    @Test func versionLengthLimits() throws {
        let long = String(repeating: "1", count: 1025)
        #expect(throws: LambdaError.self) {
            try AliasValidation.validate(
                name: "a", functionVersion: long, additionalVersionWeights: [:], description: nil)
        }
        let limit = String(repeating: "1", count: 1024)
        let routing = try AliasValidation.validate(
            name: "a", functionVersion: limit, additionalVersionWeights: [:], description: nil)
        #expect(routing.primaryVersion == limit)
        let name = String(repeating: "n", count: 128)
        #expect(
            try AliasValidation.validate(
                name: name, functionVersion: "1", additionalVersionWeights: [:], description: nil)
                == AliasRouting(primaryVersion: "1"))
    }

    @Test func theMissingPrimaryVersionIsNamedFirst() {
        let routing = AliasRouting(primaryVersion: "3", additionalVersion: "4", additionalWeight: 0.5)
        #expect(
            throws: LambdaError(
                .resourceNotFound, "Function not found: arn:aws:lambda:us-east-1:123456789012:function:f:3")
        ) {
            try AliasValidation.checkVersionsExist(routing, functionName: "f", account: AccountContext()) { _ in false }
        }
    }

    /// Weights appear in messages as Java's `Double.toString` writes them.
    @Test(arguments: [
        (2.0, "2.0"), (0.5, "0.5"), (-1.0, "-1.0"), (0.0, "0.0"), (-0.0, "-0.0"), (1.0000001, "1.0000001"),
        (0.001, "0.001"), (0.0001, "1.0E-4"), (1234567.0, "1234567.0"), (1e7, "1.0E7"), (1.5e10, "1.5E10"),
        (123.456, "123.456"), (Double.nan, "NaN"), (Double.infinity, "Infinity"), (-Double.infinity, "-Infinity"),
    ])
    func javaDoubleFormatting(value: Double, text: String) {
        #expect(AliasValidation.javaDouble(value) == text)
    }
}

struct RedactionTests {
    static let secret = "s3cr3t-value-1234"

    @Test func environmentValuesAreNeverPrinted() {
        let variable = EnvironmentVariable(name: "API_KEY", value: Self.secret)
        let configuration = FunctionConfiguration(
            name: "f", runtime: Runtime(identifier: "provided.al2023")!, handler: "h", code: .directory("/code"),
            environment: [variable, EnvironmentVariable(name: "MODE", value: "fast-mode-value")])
        var dumped = ""
        dump(configuration, to: &dumped)
        let mirrored = Mirror(reflecting: variable).children.map { "\($0.label ?? "") \($0.value)" }.joined()
        for text in [
            "\(variable)", String(describing: variable), String(reflecting: variable), "\(configuration)",
            String(reflecting: configuration), "\(configuration.environment)", dumped, mirrored,
        ] {
            #expect(!text.contains(Self.secret) && !text.contains("fast-mode-value"), "\(text)")
            #expect(text.contains("API_KEY"), "\(text)")
        }
        #expect("\(variable)" == "API_KEY=<redacted>")
        // The value is still there for the code that needs it.
        #expect(configuration.environment[0].value == Self.secret)
        #expect(variable != EnvironmentVariable(name: "API_KEY", value: "other"), "equality still sees values")
    }
}
