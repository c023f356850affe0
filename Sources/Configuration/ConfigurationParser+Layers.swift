internal import LambdaModel

extension ConfigurationParser {
    static let layerKeys = ["name", "code", "description", "compatibleRuntimes"]

    /// A top-level `layers:` entry: `{name, code, description?, compatibleRuntimes?}`.
    mutating func parseLayer(_ node: ConfigNode) throws(ConfigurationError) -> DeclaredLayer {
        let mapping = try node.mapping(allowed: Self.layerKeys)
        let nameNode = try mapping.required("name")
        let name = try nameNode.string()
        if let problem = LayerNames.validateLayerName(name) { throw nameNode.error("\(problem), got \"\(name)\"") }
        if let firstLine = layerLines[name] {
            throw nameNode.error("layer \"\(name)\" is already defined" + Self.atLine(firstLine))
        }
        let codeNode = try mapping.required("code")
        let path = FilePaths.absolute(try codeNode.nonEmptyString(), relativeTo: baseDirectory)
        let code: CodeLocation
        switch FilePaths.kind(path) {
        case .missing:
            throw codeNode.error("layer code path \(path) does not exist")
        case .directory:
            code = .directory(path)
        case .file:
            guard path.lowercased().hasSuffix(".zip") else {
                throw codeNode.error("layer code must be a directory or a .zip file, got the file \(path)")
            }
            code = .zip(path)
        }
        var description = ""
        if let value = mapping.optional("description") {
            description = try value.string()
            if description.count > 256 {
                throw value.error("description must be at most 256 characters, got \(description.count)")
            }
        }
        var runtimes: [String] = []
        if let value = mapping.optional("compatibleRuntimes") {
            let items = try value.sequence()
            if items.count > 15 { throw value.error("compatibleRuntimes may list at most 15 runtimes") }
            for item in items { runtimes.append(try item.nonEmptyString()) }
        }
        layerLines[name] = nameNode.line
        return DeclaredLayer(
            name: name, code: code, description: description, compatibleRuntimes: runtimes,
            site: DeclarationSite(file: node.file, line: node.line, keyPath: node.path))
    }

    /// A function's (or a version's) `layers:`: up to 5 entries, each `name`, `name:N` or a layer version ARN.
    func parseLayerReferences(_ node: ConfigNode) throws(ConfigurationError) -> [LayerReference] {
        let items = try node.sequence()
        if items.count > LayerNames.maximumLayersPerFunction {
            throw node.error("Cannot reference more than 5 layers.")
        }
        var references: [LayerReference] = []
        var seen: [String: String] = [:]
        for item in items {
            let text = try item.nonEmptyString()
            let site = DeclarationSite(file: item.file, line: item.line, keyPath: item.path)
            let reference: LayerReference
            if text.hasPrefix("arn:") {
                guard let arn = LayerNames.VersionARN(text) else {
                    throw item.error(
                        "\"\(text)\" is not a layer version ARN (arn:aws:lambda:<region>:<account>:layer:<name>:<N>)")
                }
                if arn.region != account.region {
                    throw item.error(
                        "Layers are not in the same region as the function. Layers are expected to be in region "
                            + "\(account.region).")
                }
                reference = LayerReference(target: .arn(text), site: site)
            } else {
                let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
                guard parts.count <= 2 else {
                    throw item.error("a layer is named as name, name:version or a layer version ARN, got \"\(text)\"")
                }
                if let problem = LayerNames.validateLayerName(parts[0]) {
                    throw item.error("\(problem), got \"\(parts[0])\"")
                }
                if parts.count == 2 {
                    guard let number = Int(parts[1]), number >= 1, String(number) == parts[1] else {
                        throw item.error(
                            "layer version \"\(parts[1])\" must be a positive number without leading zeros")
                    }
                    reference = LayerReference(target: .version(name: parts[0], number: number), site: site)
                } else {
                    reference = LayerReference(target: .latest(name: parts[0]), site: site)
                }
            }
            if let first = seen[reference.layerName] {
                throw item.error(
                    "layer \"\(reference.layerName)\" is already listed as \"\(first)\"; a function may use only one "
                        + "version of a layer")
            }
            seen[reference.layerName] = text
            references.append(reference)
        }
        return references
    }
}
