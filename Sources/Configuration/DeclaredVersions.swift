public import LambdaModel

/// Where a declaration stands in the configuration file, so that errors found when it is applied to the store
/// (a conflict, an alias AWS would refuse) can name the file, line and key path like load errors do.
public struct DeclarationSite: Sendable, Hashable {
    public var file: String
    public var line: Int?
    public var keyPath: String

    /// A ``ConfigurationError`` at this site.
    public func error(_ message: String) -> ConfigurationError {
        ConfigurationError(file: file, line: line, keyPath: keyPath, message: message)
    }
}

/// A published version declared in the configuration: the function's own settings with this version's overrides.
public struct DeclaredVersion: Sendable, Hashable {
    /// 1, 2, …: declared in order, without gaps.
    public var number: Int
    public var configuration: FunctionConfiguration
    public var description: String?
    public var site: DeclarationSite
    /// The version's `layers:` as written (the function's when the version gives none).
    public var layers: [LayerReference] = []
}

/// An alias declared in the configuration.
public struct DeclaredAlias: Sendable, Hashable {
    public var name: String
    public var routing: AliasRouting
    public var description: String?
    public var site: DeclarationSite
    /// SAM's `DeploymentPreference`: publishing a version rolls the alias out to it.
    public var deploymentPreference: DeploymentPreference?

    public init(
        name: String, routing: AliasRouting, description: String?, site: DeclarationSite,
        deploymentPreference: DeploymentPreference? = nil
    ) {
        self.name = name
        self.routing = routing
        self.description = description
        self.site = site
        self.deploymentPreference = deploymentPreference
    }
}

/// SAM's `DeploymentPreference` on a declared alias (`aliases[].deploymentPreference`): how a newly published
/// version of the function reaches the alias. With one, publishing a version starts a rollout of the alias to it,
/// as `AutoPublishAlias` + CodeDeploy do on AWS, instead of the alias staying where it is.
public struct DeploymentPreference: Sendable, Hashable {
    /// SAM's `Type`: a predefined configuration (`Canary10Percent5Minutes`, or with `CodeDeployDefault.Lambda`)
    /// or a custom one in the forms `albatross rollout --config` takes; checked when the application is built.
    public var type: String
    /// `Enabled` (default true): false declares the preference but publishing does not deploy.
    public var enabled = true
    /// `Alarms`: Albatross alarm rules (`errors>1%/1m/min20`), since there are no CloudWatch alarms to name.
    public var alarms: [String] = []
    /// `Hooks.PreTraffic` / `Hooks.PostTraffic`: function names (optionally qualified).
    public var preTrafficHook: String?
    public var postTrafficHook: String?
    /// `TriggerConfigurations`: kept (names and events) so a template copied from SAM loads; no notification is
    /// sent (there is no SNS), the server logs that once.
    public var triggers: [DeploymentTrigger] = []
    /// Albatross's `TimeScale` (default 1): every configured duration divided by it, as `--time-scale`.
    public var timeScale: Double = 1
    public var site: DeclarationSite

    public init(type: String, site: DeclarationSite) {
        self.type = type
        self.site = site
    }
}

/// One of SAM's `TriggerConfigurations` entries (CodeDeploy's `TriggerConfig`).
public struct DeploymentTrigger: Sendable, Hashable {
    public var name: String
    public var events: [String]
    public var targetArn: String

    public init(name: String, events: [String], targetArn: String) {
        self.name = name
        self.events = events
        self.targetArn = targetArn
    }
}
