import Foundation

/// Container images unpacked for execution environments: `<dataDirectory>/images/<hex>/rootfs`, once per image
/// digest (an OCI manifest's; a classic `docker save`'s config, Docker's image ID) and shared by every function
/// and environment running it. A rootfs is built in a staging directory beside it and renamed into place, so a
/// crash mid-unpack leaves no half-made rootfs (only a `.staging-*` directory, removed by the next build of
/// that image); an existing rootfs is reused as it is, and only the image's index, manifest and config are read
/// and verified again (each layer's digest is checked when it is unpacked).
public enum ImageStore {
    /// An image ready to run.
    public struct Prepared: Sendable, Hashable {
        /// `sha256:<hex>` the rootfs is addressed by.
        public var digest: String
        /// The unpacked root file system.
        public var rootfs: String
        public var config: ImageConfig
    }

    /// `<dataDirectory>/images/<hex>/rootfs` for `image`, unpacked unless it exists. Blocking (reads, hashes and
    /// writes files): call at start or on a thread pool, never on an event loop.
    public static func prepare(
        image: String, dataDirectory: String, limits: TarLimits = TarLimits()
    ) throws(ImageError) -> Prepared {
        let layout = try ImageLayout.read(image)
        let hex = String(layout.digest.dropFirst("sha256:".count))
        let directory = "\(dataDirectory)/images/\(hex)"
        let rootfs = "\(directory)/rootfs"
        let prepared = Prepared(digest: layout.digest, rootfs: rootfs, config: layout.config)
        var info = stat()
        if lstat(rootfs, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR { return prepared }
        // Every layer blob with a digest of its own is checked before anything is written.
        for layer in layout.layers where layer.diffID == nil {
            try ImageLayout.verify(layer.range, digest: layer.digest, image: image)
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ImageError(image: image, "cannot create \(directory): \(error)")
        }
        for name in LayerUnpacker.names(in: directory) where name.hasPrefix(".staging-") {
            // Another build of this image may be under way (a concurrent start): only what is old enough to be a
            // crash's leftover is removed.
            var staging = stat()
            if lstat("\(directory)/\(name)", &staging) == 0, staging.st_mtim.tv_sec < time(nil) - 3600 {
                LayerUnpacker.removeTree("\(directory)/\(name)")
            }
        }
        let staging = "\(directory)/.staging-\(UUID().uuidString)"
        guard mkdir(staging, 0o755) == 0 else {
            throw ImageError(image: image, "cannot create \(staging) (errno \(errno))")
        }
        defer { LayerUnpacker.removeTree(staging) }
        try unpack(layout, image: image, into: staging, limits: limits)
        if rename(staging, rootfs) != 0 && errno != EEXIST && errno != ENOTEMPTY {
            throw ImageError(image: image, "cannot move \(staging) to \(rootfs) (errno \(errno))")
        }
        return prepared
    }

    /// Applies every layer of `layout` to `root` (an empty directory).
    static func unpack(_ layout: ImageLayout, image: String, into root: String, limits: TarLimits) throws(ImageError) {
        var unpacker = LayerUnpacker(root: root, limits: limits)
        for layer in layout.layers {
            do {
                let file = try FileRangeSource(layer.range)
                switch layer.compression {
                case .none:
                    try apply(HashingSource(file), layer: layer, to: &unpacker, limits: limits)
                case .gzip:
                    try apply(HashingSource(try GzipSource(file)), layer: layer, to: &unpacker, limits: limits)
                }
            } catch {
                throw error.image(image, layer: layer.digest)
            }
        }
        do {
            try unpacker.finish()
        } catch {
            throw error.image(image, layer: nil)
        }
    }

    private static func apply<Source: ByteSource>(
        _ source: HashingSource<Source>, layer: ImageLayout.Layer, to unpacker: inout LayerUnpacker, limits: TarLimits
    ) throws(TarError) {
        var reader = TarReader(source, limits: limits)
        try unpacker.apply(&reader)
        guard let diffID = layer.diffID else { return }
        let actual = "sha256:" + (try source.drainAndDigest())
        guard actual == diffID else {
            throw TarError("fails its digest check: the uncompressed layer has \(actual), its config says \(diffID)")
        }
    }
}
