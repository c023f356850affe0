import Foundation

/// The files of an image: those of an OCI layout directory, or the members of a (`docker save`) tarball indexed
/// once by where their content lies in it, so that a layer is read in place. Paths are relative, checked (no
/// absolute path, no `..`), and must name regular files; a tarball's symbolic links (Docker links the classic
/// `<id>/layer.tar` names to `blobs/sha256/<hex>`) are followed inside the tarball only.
struct ImageFiles {
    let root: String
    /// Members of a tarball: content ranges, and link targets (relative to the tarball's root).
    private var members: [String: FileRange] = [:]
    private var links: [String: String] = [:]
    let isTarball: Bool

    private init(root: String, isTarball: Bool) {
        self.root = root
        self.isTarball = isTarball
    }

    static func open(_ path: String) throws(TarError) -> ImageFiles {
        var info = stat()
        guard stat(path, &info) == 0 else { throw TarError("does not exist") }
        if info.st_mode & S_IFMT == S_IFDIR { return ImageFiles(root: path, isTarball: false) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw TarError("is neither a directory nor a file") }
        var files = ImageFiles(root: path, isTarball: true)
        var head = [UInt8](repeating: 0, count: 2)
        var source = try FileRangeSource(FileRange(path: path, offset: 0, length: UInt64(info.st_size)))
        let count = try source.read(into: &head)
        if count == 2 && head == [0x1f, 0x8b] {
            throw TarError("is a gzip-compressed file: give the uncompressed docker save tarball (gunzip it)")
        }
        var reader = TarReader(
            try FileRangeSource(FileRange(path: path, offset: 0, length: UInt64(info.st_size))), limits: TarLimits())
        var entries = 0
        while let entry = try reader.next() {
            entries += 1
            guard entries <= 100_000 else { throw TarError("has more than 100000 members") }
            guard let name = try? LayerUnpacker.relativePath(entry.path, entry: entry.path), !name.isEmpty else {
                continue
            }
            switch entry.kind {
            case .file:
                files.members[name] = FileRange(path: path, offset: reader.contentPosition, length: entry.size)
            case .symbolicLink:
                let directory = (name as NSString).deletingLastPathComponent
                let joined = entry.linkTarget.hasPrefix("/") ? entry.linkTarget : "\(directory)/\(entry.linkTarget)"
                if let target = normalize(joined) { files.links[name] = target }
            case .hardLink:
                if let target = try? LayerUnpacker.relativePath(entry.linkTarget, entry: entry.path) {
                    files.links[name] = target
                }
            default:
                break
            }
        }
        return files
    }

    /// `a/b/../c` → `a/c`; nil when it climbs above the root.
    private static func normalize(_ path: String) -> String? {
        var components: [Substring] = []
        for component in path.split(separator: "/") {
            if component == "." { continue }
            if component == ".." {
                guard !components.isEmpty else { return nil }
                components.removeLast()
            } else {
                components.append(component)
            }
        }
        return components.joined(separator: "/")
    }

    func contains(_ path: String) -> Bool { (try? range(of: path, image: "")) != nil }

    /// Where the file `path` is.
    func range(of path: String, image: String) throws(ImageError) -> FileRange {
        let relative: String
        do {
            relative = try LayerUnpacker.relativePath(path, entry: path)
        } catch {
            throw ImageError(image: image, "names the unsafe path \(path)")
        }
        if isTarball {
            var name = relative
            for _ in 0..<8 {
                if let range = members[name] { return range }
                guard let target = links[name] else { break }
                name = target
            }
            throw ImageError(image: image, "has no file \(path) in it")
        }
        let full = "\(root)/\(relative)"
        var info = stat()
        guard stat(full, &info) == 0 else { throw ImageError(image: image, "has no file \(path)") }
        guard info.st_mode & S_IFMT == S_IFREG else { throw ImageError(image: image, "has \(path), not a file") }
        return FileRange(path: full, offset: 0, length: UInt64(info.st_size))
    }

    func contents(_ path: String, image: String, limit: UInt64) throws(ImageError) -> Data {
        let range = try range(of: path, image: image)
        guard range.length <= limit else { throw ImageError(image: image, "has a \(path) over \(limit) bytes") }
        return try contents(range, image: image)
    }

    func contents(_ range: FileRange, image: String) throws(ImageError) -> Data {
        var data = [UInt8](repeating: 0, count: Int(range.length))
        do {
            var source = try FileRangeSource(range)
            var filled = 0
            while filled < data.count {
                let count = try source.read(into: &data, at: filled)
                if count == 0 { break }
                filled += count
            }
        } catch {
            throw error.image(image, layer: nil)
        }
        return Data(data)
    }
}
