public import Invocation
import LambdaModel
public import Registry

/// Builds the invoker's catalog from the store: every function's published versions (run from their stored,
/// hash-verified packages) and aliases. A configured function's `$LATEST` runs from the configuration's code in
/// place (`latest`), so that editing a function's directory is enough during development; its layers are the ones
/// the store resolved for it (`ConfigurationApplier`). A function created through the control API runs its
/// `$LATEST` from the stored package, like a published version. Every version gets the merged root of its layers.
///
/// Blocking (SQLite, unpacking): call it off the event loops.
public enum CatalogBuilder {
    public static func build(
        registry: Registry, latest: [String: FunctionCatalog.Version]
    ) throws(RegistryError) -> FunctionCatalog {
        var catalog = FunctionCatalog()
        for record in try registry.functions() {
            var function = FunctionCatalog.Function()
            if var version = latest[record.functionName] {
                version.configuration.layers = record.configuration.layers
                version.layerRoot = try registry.layerRoot(for: record.configuration.layers)
                function.versions["$LATEST"] = version
            } else {
                function.versions["$LATEST"] = FunctionCatalog.Version(
                    configuration: record.configuration, version: "$LATEST",
                    taskRoot: try registry.taskRoot(for: record),
                    layerRoot: try registry.layerRoot(for: record.configuration.layers))
            }
            for version in try registry.versions(functionName: record.functionName) where version.number != nil {
                function.versions[version.version] = FunctionCatalog.Version(
                    configuration: version.configuration, version: version.version,
                    taskRoot: try registry.taskRoot(for: version),
                    layerRoot: try registry.layerRoot(for: version.configuration.layers))
            }
            for alias in try registry.aliases(functionName: record.functionName) {
                function.aliases[alias.name] = alias.routing
            }
            catalog.functions[record.functionName] = function
        }
        // Functions of the configuration that the store does not know (yet) still run as $LATEST.
        for (name, version) in latest where catalog.functions[name] == nil {
            catalog.functions[name] = FunctionCatalog.Function(versions: ["$LATEST": version])
        }
        return catalog
    }

    /// A cheap summary of what the catalog is built from, to notice changes made by another process (the CLI) or
    /// the control API: every version's RevisionId (`$LATEST`'s too) and every alias's.
    public static func fingerprint(registry: Registry) throws(RegistryError) -> String {
        var parts: [String] = []
        for record in try registry.functions() {
            parts.append("\(record.functionName):$LATEST:\(record.revisionId)")
            for version in try registry.versions(functionName: record.functionName) where version.number != nil {
                parts.append("\(record.functionName):\(version.version):\(version.revisionId)")
            }
            for alias in try registry.aliases(functionName: record.functionName) {
                parts.append("\(record.functionName)@\(alias.name):\(alias.revisionId)")
            }
        }
        return parts.joined(separator: "|")
    }
}
