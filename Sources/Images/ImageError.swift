/// Why an image cannot be read, verified or unpacked: names the image, and the layer (its digest) and the tar
/// entry at fault when there is one, so that the configuration's author can find the offending file.
public struct ImageError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The image's path as configured.
    public var image: String
    /// `sha256:<hex>` of the layer (or the blob) at fault.
    public var layer: String?
    /// The tar entry's path as the layer spells it.
    public var entry: String?
    public var problem: String

    public init(image: String, layer: String? = nil, entry: String? = nil, _ problem: String) {
        self.image = image
        self.layer = layer
        self.entry = entry
        self.problem = problem
    }

    public var description: String {
        var text = "image \(image)"
        if let layer { text += ", layer \(layer)" }
        if let entry { text += ", entry \(entry)" }
        return text + ": " + problem
    }
}

/// An error of the tar reader or the unpacker before the image and layer are known; ``ImageError`` once they are.
struct TarError: Error, CustomStringConvertible {
    var entry: String?
    var problem: String

    init(entry: String? = nil, _ problem: String) {
        self.entry = entry
        self.problem = problem
    }

    var description: String { entry.map { "entry \($0): \(problem)" } ?? problem }

    func image(_ image: String, layer: String?) -> ImageError {
        ImageError(image: image, layer: layer, entry: entry, problem)
    }
}
