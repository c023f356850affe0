import LambdaModel

/// The checks on layers that need no database: a layer's name, description and runtimes at publish time, and the
/// shape of a function's `layers` list (count, ARN pattern, region, one version per layer) with AWS's messages
/// (control-api.md §5.1, §5.23).
enum LayerChecks {
    static let versionARNConstraint =
        "Member must satisfy regular expression pattern: "
        + "arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+"

    static func checkPublish(
        name: String, description: String, compatibleRuntimes: [String]
    ) throws(RegistryError) {
        if let problem = LayerNames.validateLayerName(name) {
            throw RegistryError(.invalidParameterValue, "\(problem): '\(name)'")
        }
        var violations: [LambdaError.ConstraintViolation] = []
        if description.count > 256 {
            violations.append(
                .init(
                    value: description, member: "description",
                    constraint: "Member must have length less than or equal to 256"))
        }
        if compatibleRuntimes.count > 15 {
            violations.append(
                .init(
                    value: "[\(compatibleRuntimes.joined(separator: ", "))]", member: "compatibleRuntimes",
                    constraint: "Member must have length less than or equal to 15"))
        }
        if !violations.isEmpty { throw RegistryError(LambdaError.validation(violations)) }
    }

    static func checkReferenceShapes(_ layers: [String], region: String) throws(RegistryError) {
        if layers.count > LayerNames.maximumLayersPerFunction {
            throw RegistryError(.invalidParameterValue, "Cannot reference more than 5 layers.")
        }
        var parsed: [LayerNames.VersionARN] = []
        for arn in layers {
            guard let layer = LayerNames.VersionARN(arn) else {
                throw RegistryError(
                    LambdaError.validation([
                        .init(
                            value: "[\(layers.joined(separator: ", "))]", member: "layers",
                            constraint: "Member must satisfy constraint: [\(versionARNConstraint)]")
                    ]))
            }
            parsed.append(layer)
        }
        for layer in parsed where layer.region != region {
            throw RegistryError(
                .invalidParameterValue,
                "Layers are not in the same region as the function. Layers are expected to be in region \(region).")
        }
        for (index, layer) in parsed.enumerated() {
            for other in parsed[..<index] where other.layerARN == layer.layerARN {
                throw RegistryError(
                    .invalidParameterValue,
                    "Two different versions of the same layer are not allowed to be referenced in the same "
                        + "function. \(layers[parsed.firstIndex(of: other)!]) and \(layers[index]) are versions "
                        + "of the same layer.")
            }
        }
    }
}
