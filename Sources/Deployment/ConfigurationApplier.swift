public import Configuration
import LambdaModel
public import Registry
import Routing

/// Makes the store match what a configuration declares: its layers, each function's `$LATEST`, its published
/// versions and its aliases.
///
/// Applying is idempotent: versions that already exist with the same code and configuration are left alone,
/// aliases that already route the same way are not touched (so their RevisionId stays), and nothing is
/// published twice across restarts. A declared version that differs from the stored one of the same number is a
/// conflict, reported at the configuration's file, line and key path, and so is anything AWS would refuse (with
/// AWS's message). Blocking (SQLite, hashing): call it at start-up or on a thread, never on an event loop.
public enum ConfigurationApplier {
    public static func apply(
        _ configuration: AlbatrossConfiguration, to registry: Registry
    )
        throws(ConfigurationError)
    {
        for layer in configuration.declaredLayers {
            do {
                try registry.publishLayerVersion(
                    name: layer.name, content: layer.code, description: layer.description,
                    compatibleRuntimes: layer.compatibleRuntimes)
            } catch {
                throw layer.site.error(error.message)
            }
        }
        // Container image functions run from the configuration as $LATEST only; the store keeps code packages.
        for (index, var function) in configuration.functions.enumerated() where !function.code.isImage {
            let declared = configuration.declaredVersions[function.name] ?? []
            for version in declared {
                try applyVersion(version, registry: registry)
            }
            function.layers = try resolveLayers(of: function.name, in: configuration, registry: registry)
            do {
                try registry.putLatest(function)
            } catch {
                throw ConfigurationError(
                    file: configuration.file, line: nil, keyPath: "functions[\(index)]", message: error.message)
            }
            for alias in configuration.declaredAliases[function.name] ?? [] {
                try applyAlias(alias, functionName: function.name, registry: registry)
            }
        }
    }

    /// The statement each target group of the configuration needs in the resource policy of its function as it
    /// names it, for the load balancer to invoke it (alb-lambda.md §3): what `aws lambda add-permission
    /// --principal elasticloadbalancing.amazonaws.com --source-arn <target group ARN>` writes, and what a SAM
    /// template adds for an ALB event. Its id is `AlbatrossLoadBalancer-<target group>`. The server keeps the store's
    /// grants in step with them (``Registry/reconcileLoadBalancerGrants(_:)``).
    public static func loadBalancerGrants(of configuration: AlbatrossConfiguration) -> [LoadBalancerGrant] {
        configuration.targetGroups.compactMap { group in
            guard let function = group.functionName else { return nil }
            let qualifier = group.qualifier == Registry.latest ? nil : group.qualifier
            let statementId = "AlbatrossLoadBalancer-\(group.name)"
            let resource = configuration.account.functionARN(function, qualifier: qualifier)
            let statement =
                #"{"Sid":\#(JSONText.quoted(statementId)),"Effect":"Allow","#
                + #""Principal":{"Service":"elasticloadbalancing.amazonaws.com"},"#
                + #""Action":"lambda:InvokeFunction","Resource":\#(JSONText.quoted(resource)),"#
                + #""Condition":{"ArnLike":{"AWS:SourceArn":\#(JSONText.quoted(group.arn))}}}"#
            return LoadBalancerGrant(
                targetGroup: group.name, functionName: function, qualifier: qualifier, targetGroupARN: group.arn,
                statementId: statementId, statement: statement)
        }
    }

    /// PublishVersion, for `albatross publish` and the control API alike: a function `configuration` declares gets
    /// its `$LATEST` stored as declared now first (``refreshLatest(of:in:registry:)``), then `$LATEST` is published
    /// with the registry's preconditions and dedupe (``Registry/publishVersion(functionName:description:expectedCodeSha256:expectedRevisionId:)``).
    @discardableResult
    public static func publish(
        _ name: String, declaredIn configuration: AlbatrossConfiguration?, registry: Registry,
        description: String? = nil, expectedCodeSha256: String? = nil, expectedRevisionId: String? = nil
    ) throws -> FunctionVersionRecord {
        if let configuration, configuration.functions.contains(where: { $0.name == name }) {
            try refreshLatest(of: name, in: configuration, registry: registry)
        }
        return try registry.publishVersion(
            functionName: name, description: description, expectedCodeSha256: expectedCodeSha256,
            expectedRevisionId: expectedRevisionId)
    }

    /// Stores a configured function's `$LATEST` as the configuration declares it now (its code packed again, its
    /// layers resolved): what publishing a declared function publishes, whether `albatross publish` or the control
    /// API's PublishVersion asks. Throws RegistryError for what AWS would refuse, ConfigurationError when the
    /// function is not declared or one of its layers is missing.
    @discardableResult
    public static func refreshLatest(
        of name: String, in configuration: AlbatrossConfiguration, registry: Registry
    ) throws -> FunctionVersionRecord {
        guard var function = configuration.functions.first(where: { $0.name == name }) else {
            throw ConfigurationError(
                file: configuration.file, line: nil, keyPath: "functions",
                message: "function \(name) is not in \(configuration.file) (functions: "
                    + configuration.functions.map(\.name).joined(separator: ", ") + ")")
        }
        function.layers = try resolveLayers(of: name, in: configuration, registry: registry)
        return try registry.putLatest(function)
    }

    /// The layer version ARNs of a function's `$LATEST` as the configuration names its layers (a bare name is the
    /// layer's latest version in the store), each checked to exist.
    public static func resolveLayers(
        of functionName: String, in configuration: AlbatrossConfiguration, registry: Registry
    ) throws(ConfigurationError) -> [String] {
        try LayerResolver.resolve(configuration.layerReferences[functionName] ?? [], stored: nil, registry: registry)
    }

    private static func applyVersion(_ declared: DeclaredVersion, registry: Registry) throws(ConfigurationError) {
        let name = declared.configuration.name
        let site = declared.site
        do {
            let known = try registry.functions().contains { $0.functionName == name }
            let existing = known ? try registry.versions(functionName: name).filter { $0.number != nil } : []
            let stored = existing.first(where: { $0.number == declared.number })
            var configuration = declared.configuration
            configuration.layers = try LayerResolver.resolve(
                declared.layers, stored: stored?.configuration.layers, registry: registry)
            if let stored {
                // Compared without writing $LATEST, so that applying an unchanged configuration writes nothing.
                let declaredSha256 = try registry.codeSha256(of: configuration.code, what: "function \(name)")
                guard stored.codeSha256 == declaredSha256 else {
                    throw site.error(
                        "version \(declared.number) of \(name) in the store has CodeSha256 \(stored.codeSha256), "
                            + "but the code declared here has \(declaredSha256); published versions cannot "
                            + "change: declare a new version instead")
                }
                if let difference = Self.difference(stored.configuration, configuration) {
                    throw site.error(
                        "version \(declared.number) of \(name) in the store has a different \(difference); "
                            + "published versions cannot change: declare a new version instead")
                }
                return
            }
            try registry.putLatest(configuration, description: declared.description ?? "")
            let highest = existing.compactMap(\.number).max() ?? 0
            guard declared.number == highest + 1 else {
                throw site.error(
                    "the store's highest version of \(name) is \(highest), so the next one published is "
                        + "\(highest + 1), not \(declared.number)")
            }
            let published = try registry.publishVersion(functionName: name, description: declared.description)
            guard published.number == declared.number else {
                throw site.error(
                    "version \(declared.number) of \(name) is identical to version \(published.version); "
                        + "AWS publishes no new version when nothing changed")
            }
        } catch let error as ConfigurationError {
            throw error
        } catch let error as RegistryError {
            throw site.error(error.message)
        } catch {
            throw site.error("\(error)")
        }
    }

    private static func applyAlias(
        _ declared: DeclaredAlias, functionName: String, registry: Registry
    )
        throws(ConfigurationError)
    {
        let description = declared.description ?? ""
        do {
            let existing = try registry.aliases(functionName: functionName).first { $0.name == declared.name }
            if let existing {
                // The declared version is where a deployed alias starts; after that, deployments move it (SAM's
                // AutoPublishAlias), so applying the file again must not undo a rollout.
                if declared.deploymentPreference?.enabled == true {
                    if existing.description == description { return }
                    try registry.updateAlias(
                        functionName: functionName, name: declared.name, description: description)
                    return
                }
                if existing.routing == declared.routing && existing.description == description { return }
                try registry.updateAlias(
                    functionName: functionName, name: declared.name, routing: declared.routing,
                    description: description)
            } else {
                try registry.createAlias(
                    functionName: functionName, name: declared.name, routing: declared.routing,
                    description: description)
            }
        } catch {
            throw declared.site.error(error.message)
        }
    }

    /// The first setting in which two configurations differ (code aside), for conflict messages.
    static func difference(_ a: FunctionConfiguration, _ b: FunctionConfiguration) -> String? {
        if a.runtime.identifier != b.runtime.identifier { return "runtime (\(a.runtime) here \(b.runtime))" }
        if a.handler != b.handler { return "handler (\(a.handler), here \(b.handler))" }
        if a.memorySize != b.memorySize { return "memorySize (\(a.memorySize), here \(b.memorySize))" }
        if a.timeout != b.timeout { return "timeout (\(a.timeout), here \(b.timeout))" }
        if a.environment != b.environment { return "environment (values not shown)" }
        if a.layers != b.layers {
            return "layers ([\(a.layers.joined(separator: ", "))], here [\(b.layers.joined(separator: ", "))])"
        }
        if a.logging != b.logging { return "loggingConfig" }
        if a.tracing != b.tracing {
            return "tracingConfig (\(a.tracing.mode.rawValue), here \(b.tracing.mode.rawValue))"
        }
        return nil
    }
}
