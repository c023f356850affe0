import Configuration
import LambdaModel
import Registry

/// Turns a function's `layers:` entries (`common`, `common:2`, an ARN) into layer version ARNs in the store, each
/// checked to exist, so that errors name the configuration entry rather than the whole function.
enum LayerResolver {
    /// - Parameter stored: the layers of the already published version being re-declared, if any: a bare name then
    ///   resolves to the version of that layer it was published with, so that restarting after a new layer
    ///   version is published does not turn into a conflict.
    static func resolve(
        _ references: [LayerReference], stored: [String]?, registry: Registry
    ) throws(ConfigurationError) -> [String] {
        var arns: [String] = []
        for reference in references {
            let arn: String
            switch reference.target {
            case .latest(let name):
                let pinned = stored?.first { LayerNames.VersionARN($0)?.name == name }
                if let pinned {
                    arn = pinned
                } else {
                    let latest: LayerVersionRecord?
                    do {
                        latest = try registry.layerVersions(name: name).first
                    } catch {
                        throw reference.site.error(error.message)
                    }
                    guard let latest else {
                        throw reference.site.error(
                            "layer \"\(name)\" has no published version; declare it under layers: or publish it "
                                + "with albatross layers publish")
                    }
                    arn = latest.arn
                }
            case .version(let name, let number):
                arn = registry.account.layerVersionARN(name, version: number)
            case .arn(let text):
                arn = text
            }
            do {
                _ = try registry.layerVersion(arn: arn)
            } catch {
                let missing = error.httpStatus == 404
                throw reference.site.error(missing ? "Layer version \(arn) does not exist." : error.message)
            }
            arns.append(arn)
        }
        return arns
    }
}
