import Foundation

/// Reads what an image is made of, from an OCI image layout directory or a `docker save` tarball (the classic
/// `manifest.json` form, or the OCI layout newer Docker versions write into it): its identity, its config and
/// its layers, each blob checked against its SHA-256 digest and size before it is used. Pure of policy: how an
/// image runs is decided elsewhere. Blocking (file reads): call off the event loops.
struct ImageLayout {
    /// One layer to apply, in order.
    struct Layer {
        /// `sha256:<hex>` of the blob (a classic `docker save` names the layer by its DiffID instead).
        var digest: String
        var mediaType: String?
        var range: FileRange
        var compression: Compression
        /// The SHA-256 of the uncompressed tar to check while unpacking (a classic `docker save`'s layers have
        /// no digest of their own but the config's `rootfs.diff_ids`); nil when the blob's `digest` is checked
        /// before unpacking instead.
        var diffID: String?
    }

    enum Compression: Equatable {
        case none, gzip
    }

    /// `sha256:<hex>`: the manifest's digest (a classic `docker save`: the config's, Docker's image ID).
    var digest: String
    var config: ImageConfig
    var layers: [Layer]

    static let maximumJSONBytes: UInt64 = 4 << 20

    /// Reads the image at `path` (a directory: an OCI layout; a file: a tarball).
    static func read(_ path: String) throws(ImageError) -> ImageLayout {
        let files: ImageFiles
        do {
            files = try ImageFiles.open(path)
        } catch {
            throw error.image(path, layer: nil)
        }
        if files.contains("index.json") {
            return try readOCI(files, image: path)
        }
        if files.contains("manifest.json") {
            return try readDockerSave(files, image: path)
        }
        throw ImageError(
            image: path,
            files.isTarball
                ? "is not a docker save tarball (no manifest.json or index.json in it)"
                : "is not an OCI image layout (no index.json in it)")
    }

    // MARK: OCI

    static let indexTypes: Set<String> = [
        "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
    ]

    private static func readOCI(_ files: ImageFiles, image: String) throws(ImageError) -> ImageLayout {
        if !files.isTarball && !files.contains("oci-layout") {
            throw ImageError(image: image, "has an index.json but no oci-layout file: not an OCI image layout")
        }
        var document = try json(files, "index.json", image: image)
        var descriptor: [String: Any]
        var depth = 0
        while true {
            guard let manifests = document["manifests"] as? [[String: Any]], !manifests.isEmpty else {
                throw ImageError(image: image, "has an index that lists no manifests")
            }
            descriptor = try choose(manifests, image: image)
            guard let mediaType = descriptor["mediaType"] as? String, indexTypes.contains(mediaType) else { break }
            depth += 1
            guard depth <= 4 else { throw ImageError(image: image, "nests image indexes more than 4 deep") }
            document = try blobJSON(files, descriptor, image: image)
        }
        let manifestDigest = try digestOf(descriptor, image: image)
        let manifest = try blobJSON(files, descriptor, image: image)
        guard let configDescriptor = manifest["config"] as? [String: Any] else {
            throw ImageError(image: image, layer: manifestDigest, "is a manifest without a config")
        }
        let config = try parseConfig(try blobJSON(files, configDescriptor, image: image), image: image)
        var layers: [Layer] = []
        for item in manifest["layers"] as? [[String: Any]] ?? [] {
            let digest = try digestOf(item, image: image)
            let mediaType = item["mediaType"] as? String ?? ""
            let compression = try compression(ofMediaType: mediaType, image: image, layer: digest)
            let range = try sizedBlob(files, item, image: image)
            layers.append(
                Layer(digest: digest, mediaType: mediaType, range: range, compression: compression, diffID: nil))
        }
        return ImageLayout(digest: manifestDigest, config: config, layers: layers)
    }

    /// One manifest of an index: the only one, else the one for Linux on this machine's architecture.
    private static func choose(_ manifests: [[String: Any]], image: String) throws(ImageError) -> [String: Any] {
        if manifests.count == 1 { return manifests[0] }
        #if arch(arm64)
            let architecture = "arm64"
        #else
            let architecture = "amd64"
        #endif
        let matching = manifests.filter { manifest in
            let platform = manifest["platform"] as? [String: Any]
            return platform?["os"] as? String == "linux" && platform?["architecture"] as? String == architecture
        }
        guard let chosen = matching.first else {
            throw ImageError(
                image: image, "lists \(manifests.count) manifests and none for linux/\(architecture)")
        }
        return chosen
    }

    /// Layer media types: tar and tar+gzip (OCI's and Docker's, distributable or not); zstd refused by name.
    static func compression(
        ofMediaType mediaType: String, image: String, layer: String
    ) throws(ImageError) -> Compression {
        switch mediaType {
        case "application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.nondistributable.v1.tar",
            "application/vnd.docker.image.rootfs.diff.tar":
            return .none
        case "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip":
            return .gzip
        default:
            if mediaType.contains("zstd") {
                throw ImageError(
                    image: image, layer: layer,
                    "has the media type \(mediaType): zstd layers are not supported (build the image with gzip "
                        + "or uncompressed layers)")
            }
            throw ImageError(image: image, layer: layer, "has the unsupported layer media type \(mediaType)")
        }
    }

    // MARK: docker save

    private static func readDockerSave(_ files: ImageFiles, image: String) throws(ImageError) -> ImageLayout {
        let data = try files.contents("manifest.json", image: image, limit: maximumJSONBytes)
        guard let list = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]], !list.isEmpty else {
            throw ImageError(image: image, "has a manifest.json that is not a non-empty list of images")
        }
        guard list.count == 1 else {
            let tags = list.map { ($0["RepoTags"] as? [String] ?? []).joined(separator: ",") }
            throw ImageError(
                image: image,
                "holds \(list.count) images (\(tags.joined(separator: "; "))); save one image per tarball")
        }
        guard let configPath = list[0]["Config"] as? String, let layerPaths = list[0]["Layers"] as? [String] else {
            throw ImageError(image: image, "has a manifest.json without Config and Layers")
        }
        let configRange = try files.range(of: configPath, image: image)
        let configDigest: String
        do {
            configDigest = "sha256:" + (try FileRangeSource.digest(of: configRange)).hex
        } catch {
            throw error.image(image, layer: nil)
        }
        // The config's file name is its digest (`<hex>.json` or `blobs/sha256/<hex>`): check it when it is one.
        let name = (configPath as NSString).lastPathComponent
        let named = name.hasSuffix(".json") ? String(name.dropLast(5)) : name
        if isHex64(named), "sha256:" + named != configDigest {
            throw ImageError(
                image: image, layer: "sha256:" + named, "is the config, but its content has the digest \(configDigest)")
        }
        let configData = try files.contents(configPath, image: image, limit: maximumJSONBytes)
        guard let configJSON = try? JSONSerialization.jsonObject(with: configData) as? [String: Any] else {
            throw ImageError(image: image, "has a config \(configPath) that is not a JSON object")
        }
        let config = try parseConfig(configJSON, image: image)
        let diffIDs = (configJSON["rootfs"] as? [String: Any])?["diff_ids"] as? [String] ?? []
        guard diffIDs.count == layerPaths.count else {
            throw ImageError(
                image: image,
                "lists \(layerPaths.count) layers in manifest.json but \(diffIDs.count) diff_ids in its config")
        }
        var layers: [Layer] = []
        for (path, diffID) in zip(layerPaths, diffIDs) {
            guard diffID.hasPrefix("sha256:"), isHex64(String(diffID.dropFirst(7))) else {
                throw ImageError(image: image, "has the unsupported diff_id \(diffID) (only sha256 digests)")
            }
            let range = try files.range(of: path, image: image)
            let compression = try sniffCompression(range, image: image, layer: diffID)
            layers.append(Layer(digest: diffID, mediaType: nil, range: range, compression: compression, diffID: diffID))
        }
        return ImageLayout(digest: configDigest, config: config, layers: layers)
    }

    /// A classic `docker save` layer's compression, from its first bytes (gzip `1f 8b`, zstd `28 b5 2f fd`).
    private static func sniffCompression(
        _ range: FileRange, image: String, layer: String
    ) throws(ImageError) -> Compression {
        var head = [UInt8](repeating: 0, count: 4)
        let count: Int
        do {
            var source = try FileRangeSource(
                FileRange(path: range.path, offset: range.offset, length: min(4, range.length)))
            count = try source.read(into: &head)
        } catch {
            throw error.image(image, layer: layer)
        }
        if count >= 2 && head[0] == 0x1f && head[1] == 0x8b { return .gzip }
        if count == 4 && head == [0x28, 0xb5, 0x2f, 0xfd] {
            throw ImageError(image: image, layer: layer, "is zstd-compressed: zstd layers are not supported")
        }
        return .none
    }

    // MARK: blobs and JSON

    static func isHex64(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    private static func digestOf(_ descriptor: [String: Any], image: String) throws(ImageError) -> String {
        guard let digest = descriptor["digest"] as? String else {
            throw ImageError(image: image, "has a descriptor without a digest")
        }
        guard digest.hasPrefix("sha256:"), isHex64(String(digest.dropFirst(7))) else {
            throw ImageError(image: image, layer: digest, "has an unsupported digest (only sha256 digests are read)")
        }
        return digest
    }

    /// The blob a descriptor names, after checking its size and SHA-256.
    private static func verifiedBlob(
        _ files: ImageFiles, _ descriptor: [String: Any], image: String
    ) throws(ImageError) -> FileRange {
        let range = try sizedBlob(files, descriptor, image: image)
        try verify(range, digest: try digestOf(descriptor, image: image), image: image)
        return range
    }

    /// The blob a descriptor names, after checking its size only (a layer's digest is checked when it is
    /// unpacked, so that reusing a rootfs does not hash every layer again).
    private static func sizedBlob(
        _ files: ImageFiles, _ descriptor: [String: Any], image: String
    ) throws(ImageError) -> FileRange {
        let digest = try digestOf(descriptor, image: image)
        guard let size = (descriptor["size"] as? NSNumber)?.int64Value, size >= 0 else {
            throw ImageError(image: image, layer: digest, "has a descriptor without a size")
        }
        let range = try files.range(of: "blobs/sha256/" + digest.dropFirst(7), image: image)
        guard range.length == UInt64(size) else {
            throw ImageError(
                image: image, layer: digest, "is \(range.length) bytes, but its descriptor says \(size)")
        }
        return range
    }

    /// Checks that the bytes of `range` have the SHA-256 `digest` (`sha256:<hex>`).
    static func verify(_ range: FileRange, digest: String, image: String) throws(ImageError) {
        let actual: String
        do {
            actual = "sha256:" + (try FileRangeSource.digest(of: range)).hex
        } catch {
            throw error.image(image, layer: digest)
        }
        guard actual == digest else {
            throw ImageError(image: image, layer: digest, "fails its digest check: its content has \(actual)")
        }
    }

    private static func blobJSON(
        _ files: ImageFiles, _ descriptor: [String: Any], image: String
    ) throws(ImageError) -> [String: Any] {
        let range = try verifiedBlob(files, descriptor, image: image)
        let digest = descriptor["digest"] as? String
        guard range.length <= maximumJSONBytes else {
            throw ImageError(image: image, layer: digest, "is a JSON document over \(maximumJSONBytes) bytes")
        }
        let data = try files.contents(range, image: image)
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ImageError(image: image, layer: digest, "is not a JSON object")
        }
        return object
    }

    private static func json(_ files: ImageFiles, _ path: String, image: String) throws(ImageError) -> [String: Any] {
        let data = try files.contents(path, image: image, limit: maximumJSONBytes)
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ImageError(image: image, "has a \(path) that is not a JSON object")
        }
        return object
    }

    static func parseConfig(_ document: [String: Any], image: String) throws(ImageError) -> ImageConfig {
        let config = document["config"] as? [String: Any] ?? [:]
        func strings(_ key: String) throws(ImageError) -> [String]? {
            guard let value = config[key], !(value is NSNull) else { return nil }
            guard let list = value as? [String] else {
                throw ImageError(image: image, "has a config whose \(key) is not a list of strings")
            }
            return list
        }
        return ImageConfig(
            entryPoint: try strings("Entrypoint"), command: try strings("Cmd"),
            workingDirectory: config["WorkingDir"] as? String, environment: try strings("Env") ?? [],
            user: config["User"] as? String)
    }
}
