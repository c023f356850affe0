import Configuration
import ControlAPI
import Deployment
import Environments
import Foundation
import Invocation
import LambdaModel
import LoadBalancer
import Logging
import NIOConcurrencyHelpers
import Registry
import Routing

/// Keeps what the invoker serves in step with its three sources: the configuration file (functions, their
/// versions, aliases and layers), the code `$LATEST` runs from in place (a directory or a .zip), and the store
/// (versions and aliases the CLI changes). When any of them changes, one new catalog replaces the old one, and the
/// invoker retires each changed version's pool by draining it: busy environments finish the invoke they have with
/// the code and settings they started with, and every new environment runs the new code *and* the new settings.
/// A new environment can never pair new code with old variables.
///
/// The configuration file is read again when its size, modification time or inode changes (and on every SIGHUP);
/// a file that no longer loads is reported and changes nothing. Listener rules and target groups apply at once:
/// every open connection routes its next request with them (``LoadBalancer/update(listeners:targetGroups:)``).
/// Parts that are bound at start (a listener's address, port, protocol or TLS settings, the number of listeners,
/// load-balancer attributes, environments, logs, admin, data directory, account) are not applied: a change to
/// them is reported as needing a restart.
///
/// Every call blocks (file system, SQLite, unpacking): run it on the thread pool. Calls are serialised.
final class CatalogReloader: Sendable {
    private struct State {
        var configuration: AlbatrossConfiguration
        /// The configuration file as last read; nil when it is not a file (YAML given as text).
        var stamp: FileStamp?
        var latest: [String: FunctionCatalog.Version]
        var storeFingerprint: String?
        /// The last failure reported, so that one broken edit is reported once, not every second.
        var reported: String?
        /// The target groups answered `LambdaAccessDenied`, as last computed.
        var denied: Set<String>
        /// What `denied` (and the grants) were last computed for.
        var permissionsComputed: (stamp: FileStamp?, fingerprint: String?)?
    }

    private let state: NIOLockedValueBox<State>
    private let registry: Registry?
    private let invoker: Invoker
    private let loadBalancer: LoadBalancer?
    private let logger: Logger

    /// - Parameters:
    ///   - latest: the `$LATEST` versions the application started with (their `codeRevision` set).
    init(
        configuration: AlbatrossConfiguration, latest: [String: FunctionCatalog.Version], registry: Registry?,
        invoker: Invoker, loadBalancer: LoadBalancer? = nil, denied: Set<String> = [], logger: Logger
    ) {
        self.registry = registry
        self.invoker = invoker
        self.loadBalancer = loadBalancer
        self.logger = logger
        state = NIOLockedValueBox(
            State(
                configuration: configuration, stamp: FileStamp(path: configuration.file), latest: latest,
                storeFingerprint: registry.flatMap { try? Self.fingerprint(registry: $0) }, denied: denied))
    }

    /// The store's versions, aliases and concurrency settings, summarised to notice a change.
    static func fingerprint(registry: Registry) throws(RegistryError) -> String {
        try CatalogBuilder.fingerprint(registry: registry) + "#" + registry.concurrencyFingerprint()
    }

    /// The concurrency the server runs: the configuration's for what it declares, the store's (set through the
    /// control API) for the rest.
    static func concurrency(
        of configuration: AlbatrossConfiguration, registry: Registry?
    ) throws(RegistryError) -> [String: FunctionConcurrency] {
        guard let registry else { return configuration.concurrency }
        return Registry.effectiveConcurrency(
            stored: try registry.storedConcurrency(), declared: declared(by: configuration).declaredConcurrency)
    }

    /// The `$LATEST` version of every configured function, with the revision of its code.
    static func latestVersions(
        of configuration: AlbatrossConfiguration, reusing previous: [String: FunctionCatalog.Version] = [:]
    ) throws -> [String: FunctionCatalog.Version] {
        var latest: [String: FunctionCatalog.Version] = [:]
        for function in configuration.functions {
            let revision = CodePreparer.revision(of: function)
            if let known = previous[function.name], known.configuration == function, known.codeRevision == revision {
                latest[function.name] = known
                continue
            }
            if function.code.isImage {
                let image = try CodePreparer.image(for: function, dataDirectory: configuration.dataDirectory)
                latest[function.name] = FunctionCatalog.Version(
                    configuration: function, version: "$LATEST", taskRoot: image.rootfs, codeRevision: revision,
                    image: image)
                continue
            }
            let root = try CodePreparer.taskRoot(
                for: function, dataDirectory: configuration.dataDirectory, revision: revision)
            latest[function.name] = FunctionCatalog.Version(
                configuration: function, version: "$LATEST", taskRoot: root, codeRevision: revision)
        }
        return latest
    }

    /// What the configuration declares, as last applied: the control API refuses to change these (they are
    /// changed in the file).
    func declared() -> APIWriteHooks.Declared {
        state.withLockedValue { state in Self.declared(by: state.configuration) }
    }

    static func declared(by configuration: AlbatrossConfiguration) -> APIWriteHooks.Declared {
        var declared = APIWriteHooks.Declared(
            file: configuration.file, functions: Set(configuration.functions.map(\.name)),
            concurrency: configuration.concurrency)
        for (function, versions) in configuration.declaredVersions {
            for version in versions { declared.versions.insert("\(function):\(version.number)") }
        }
        for (function, aliases) in configuration.declaredAliases {
            for alias in aliases { declared.aliases.insert("\(function):\(alias.name)") }
        }
        return declared
    }

    /// The target groups whose function's resource policy (as the group names it) does not let the load balancer
    /// invoke it (``AccessPolicy/allowsLoadBalancer(statements:functionARN:targetGroupARN:account:)``), with
    /// `albatross.lambda_permissions.enforced` (the default); empty when it is off or there is no store (no
    /// policy can exist, so the YAML's groups hold the permission as declared). First the store's grants are made
    /// to match the configuration's target groups (``Registry/reconcileLoadBalancerGrants(_:)``: new groups, and
    /// groups whose function, version or alias exists only now, get their statement; groups that left take theirs
    /// away), each change logged. Groups denied now that were not in `previous` are logged, with what to do. A
    /// function the store does not know is left to the invoker (`LambdaResourceNotFound`). Blocking (SQLite): run it
    /// on the thread pool.
    static func lambdaPermissions(
        of configuration: AlbatrossConfiguration, registry: Registry?, previous: Set<String> = [], logger: Logger
    ) -> Set<String> {
        guard let registry else { return [] }
        do {
            for change in try registry.reconcileLoadBalancerGrants(
                ConfigurationApplier.loadBalancerGrants(of: configuration))
            {
                logger.info("\(change)")
            }
        } catch {
            logger.error("target groups: the resource policy statements for the load balancer: \(error.message)")
        }
        guard configuration.loadBalancerAttributes.lambdaPermissionsEnforced else { return [] }
        var denied: Set<String> = []
        for group in configuration.targetGroups {
            guard let function = group.functionName else { continue }
            let qualifier = group.qualifier == Registry.latest ? nil : group.qualifier
            let statements: [String]
            do {
                statements =
                    try registry.policy(functionName: function, qualifier: qualifier)?.statements.map(\.json) ?? []
            } catch {
                continue
            }
            let functionARN = configuration.account.functionARN(function, qualifier: qualifier)
            let allowed = AccessPolicy.allowsLoadBalancer(
                statements: statements, functionARN: functionARN, targetGroupARN: group.arn,
                account: configuration.account.accountID)
            guard !allowed else { continue }
            denied.insert(group.name)
            if !previous.contains(group.name) {
                let command =
                    "aws lambda add-permission --function-name \(functionARN) --statement-id "
                    + "AlbatrossLoadBalancer-\(group.name) --action lambda:InvokeFunction --principal "
                    + "elasticloadbalancing.amazonaws.com --source-arn \(group.arn)"
                let message =
                    "target group \(group.name): the resource policy of \(functionARN) has no statement allowing "
                    + "elasticloadbalancing.amazonaws.com to invoke it for \(group.arn); its requests are answered "
                    + "502 (LambdaAccessDenied) until one is added: \(command)"
                logger.warning("\(message)")
            }
        }
        return denied
    }

    /// The configuration as last applied (the file's, after its latest edit that loaded).
    func currentConfiguration() -> AlbatrossConfiguration {
        state.withLockedValue { $0.configuration }
    }

    /// PublishVersion through the control API: ``ConfigurationApplier/publish(_:declaredIn:registry:description:expectedCodeSha256:expectedRevisionId:)``
    /// with the configuration as last applied, the function `albatross publish` calls too.
    func publish(_ request: APIWriteHooks.PublishRequest) throws -> FunctionVersionRecord {
        guard let registry else { throw ReloadError("the server runs without a store") }
        let configuration = state.withLockedValue { $0.configuration }
        return try ConfigurationApplier.publish(
            request.functionName, declaredIn: configuration, registry: registry, description: request.description,
            expectedCodeSha256: request.expectedCodeSha256, expectedRevisionId: request.expectedRevisionId)
    }

    /// Looks at every source and installs a new catalog if anything changed. With `rereadConfiguration` (SIGHUP)
    /// the configuration file is read even if it looks unchanged.
    func check(rereadConfiguration: Bool = false) {
        state.withLockedValue { state in
            defer {
                // Every policy change renews a RevisionId the store's fingerprint holds, and every target group
                // change is a change of the file: with neither, the grants and the set are as last computed.
                if state.permissionsComputed?.stamp != state.stamp
                    || state.permissionsComputed?.fingerprint != state.storeFingerprint
                {
                    state.permissionsComputed = (state.stamp, state.storeFingerprint)
                    state.denied = Self.lambdaPermissions(
                        of: state.configuration, registry: registry, previous: state.denied, logger: logger)
                    loadBalancer?.updateLambdaPermissions(denied: state.denied)
                }
            }
            do {
                try check(&state, rereadConfiguration: rereadConfiguration)
                state.reported = nil
            } catch {
                let message = "\(error)"
                if message != state.reported {
                    state.reported = message
                    logger.error("\(message)")
                }
            }
        }
    }

    private func check(_ state: inout State, rereadConfiguration: Bool) throws {
        var configuration = state.configuration
        var changes: [String] = []
        var stamp = state.stamp
        if let known = state.stamp {
            let current = FileStamp(path: configuration.file)
            if rereadConfiguration || current != known {
                stamp = current
                configuration = try Self.reload(configuration.file, replacing: state.configuration)
                if configuration != state.configuration {
                    changes.append("the configuration file changed")
                    var needingRestart = Self.partsNeedingRestart(from: state.configuration, to: configuration)
                    if needingRestart.contains("listeners") || needingRestart.contains("targetGroups"),
                        let loadBalancer
                    {
                        do {
                            try loadBalancer.update(
                                listeners: configuration.listeners, targetGroups: configuration.targetGroups)
                            needingRestart.removeAll { $0 == "listeners" || $0 == "targetGroups" }
                            logger.info(
                                "\(configuration.file): listener rules and target groups changed; the next request of every connection is routed with them"
                            )
                        } catch {
                            logger.warning(
                                "\(configuration.file): listener rules and target groups cannot change while running: \(error.description)"
                            )
                        }
                    }
                    for part in needingRestart {
                        logger.warning(
                            "\(configuration.file): \(part) changed; restart the server to apply it (not applied)")
                    }
                    if let registry { try Self.apply(configuration, to: registry) }
                }
            }
        }
        let latest: [String: FunctionCatalog.Version]
        do {
            latest = try Self.latestVersions(of: configuration, reusing: state.latest)
        } catch {
            throw ReloadError("cannot prepare the changed code; still serving the previous $LATEST: \(error)")
        }
        for (name, version) in latest.sorted(by: { $0.key < $1.key })
        where state.latest[name].map({ $0.codeRevision != version.codeRevision }) ?? false {
            changes.append("the code of \(name) changed")
        }
        var fingerprint = state.storeFingerprint
        if let registry {
            do {
                fingerprint = try Self.fingerprint(registry: registry)
            } catch {
                throw ReloadError("cannot load the changed versions or aliases: \(error)")
            }
            if fingerprint != state.storeFingerprint && changes.isEmpty {
                changes.append("versions or aliases changed in the store")
            }
        }
        guard !changes.isEmpty else {
            state.stamp = stamp
            return
        }
        var catalog: FunctionCatalog
        if let registry {
            do {
                catalog = try CatalogBuilder.build(registry: registry, latest: latest)
            } catch {
                throw ReloadError("cannot load the changed versions or aliases: \(error)")
            }
        } else {
            catalog = FunctionCatalog(
                functions: latest.mapValues { FunctionCatalog.Function(versions: ["$LATEST": $0]) })
        }
        do {
            catalog.applyConcurrency(try Self.concurrency(of: configuration, registry: registry))
        } catch {
            throw ReloadError("cannot load the concurrency settings of the store: \(error)")
        }
        invoker.replaceCatalog(catalog)
        state = State(
            configuration: configuration, stamp: stamp, latest: latest, storeFingerprint: fingerprint,
            reported: nil, denied: state.denied)
        if changes == ["versions or aliases changed in the store"] {
            logger.info("versions or aliases changed in the store; now serving them")
        } else {
            let what = changes.joined(separator: "; ")
            logger.info(
                "\(what); now serving it: environments of a changed version finish their invoke and stop, new ones start with the new code and settings"
            )
        }
    }

    private static func reload(
        _ path: String, replacing current: AlbatrossConfiguration
    ) throws -> AlbatrossConfiguration {
        do {
            return try ConfigurationLoader.load(path: path)
        } catch {
            throw ReloadError("the changed configuration does not load; still serving the previous one: \(error)")
        }
    }

    private static func apply(_ configuration: AlbatrossConfiguration, to registry: Registry) throws {
        do {
            try ConfigurationApplier.apply(configuration, to: registry)
        } catch {
            throw ReloadError("the changed configuration cannot be applied; still serving the previous one: \(error)")
        }
    }

    /// The parts of the configuration that are bound when the server starts.
    static func partsNeedingRestart(
        from old: AlbatrossConfiguration, to new: AlbatrossConfiguration
    ) -> [String] {
        var parts: [String] = []
        if old.dataDirectory != new.dataDirectory { parts.append("dataDirectory") }
        if old.account != new.account { parts.append("account or region") }
        if old.listeners != new.listeners { parts.append("listeners") }
        if old.targetGroups != new.targetGroups { parts.append("targetGroups") }
        if old.loadBalancerAttributes != new.loadBalancerAttributes { parts.append("loadBalancer") }
        if old.environments != new.environments { parts.append("environments") }
        if old.logs != new.logs { parts.append("logs") }
        if old.admin != new.admin { parts.append("admin") }
        if old.randomSeed != new.randomSeed { parts.append("randomSeed") }
        return parts
    }
}

/// What a reload found wrong, as it is reported.
struct ReloadError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Identifies one version of a file cheaply: when any of these change, the file was written or replaced.
struct FileStamp: Equatable, Sendable {
    let device: UInt64
    let inode: UInt64
    let size: Int64
    let modified: Int64

    /// Nil when `path` is not a readable regular file.
    init?(path: String) {
        var status = stat()
        guard !path.isEmpty, stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return nil }
        device = UInt64(status.st_dev)
        inode = UInt64(status.st_ino)
        size = Int64(status.st_size)
        modified = Int64(status.st_mtim.tv_sec) * 1_000_000_000 + Int64(status.st_mtim.tv_nsec)
    }
}
