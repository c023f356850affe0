import Foundation

/// Applies layers, in order, to a rootfs directory as an overlay file system would stack them: each entry
/// replaces what lower layers had at its path, `.wh.<name>` deletes `<name>` of the lower layers and
/// `.wh..wh..opq` empties its directory of what the lower layers put there (OCI image spec, "Whiteouts").
///
/// Nothing is written outside the rootfs: refused, with the entry named, are absolute paths (after the usual
/// leading `./`), `..` components, entries whose parent path goes through a symbolic link (of this layer or a
/// lower one), hard links whose target is absolute, climbs with `..`, goes through a symbolic link or does not
/// exist, device files and fifos (tar has no type for sockets). Symbolic links are created as they are: their
/// targets are never followed while unpacking (the sandbox resolves them against the rootfs later). Permission
/// bits are kept without setuid and setgid; owners and times are not (every file belongs to the server's user).
/// Blocking (file system): call off the event loops.
struct LayerUnpacker {
    let root: String
    let limits: TarLimits
    private(set) var entries = 0
    private(set) var bytes: UInt64 = 0
    /// Directories' modes, applied once every layer is in (a read-only directory must stay writable until then).
    private var directoryModes: [String: mode_t] = [:]

    init(root: String, limits: TarLimits) {
        self.root = root
        self.limits = limits
    }

    /// Unpacks one layer's tar stream.
    mutating func apply<Source: ByteSource>(_ reader: inout TarReader<Source>) throws(TarError) {
        // Paths this layer wrote: its whiteouts apply to the lower layers only.
        var written: Set<String> = []
        while let entry = try reader.next() {
            entries += 1
            guard entries <= limits.maximumEntries else {
                throw TarError(entry: entry.path, "is past the limit of \(limits.maximumEntries) entries")
            }
            let relative = try Self.relativePath(entry.path, entry: entry.path)
            if relative.isEmpty {
                // The root itself (`./`): only a directory makes sense.
                guard entry.kind == .directory else { throw TarError(entry: entry.path, "replaces the root") }
                continue
            }
            let components = relative.split(separator: "/")
            let name = String(components.last!)
            let parent = components.dropLast().joined(separator: "/")
            try checkParents(parent, entry: entry.path)
            if name == ".wh..wh..opq" {
                try makeDirectories(parent, entry: entry.path)
                try removeChildren(of: parent, keeping: written, entry: entry.path)
                continue
            }
            if name.hasPrefix(".wh.") {
                let hidden = String(name.dropFirst(4))
                guard !hidden.isEmpty, hidden != ".", hidden != ".." else {
                    throw TarError(entry: entry.path, "is a whiteout of no valid name")
                }
                let path = parent.isEmpty ? hidden : "\(parent)/\(hidden)"
                if !written.contains(path) { try remove(path, entry: entry.path) }
                continue
            }
            switch entry.kind {
            case .characterDevice, .blockDevice:
                throw TarError(entry: entry.path, "is a device file, which images may not contain here")
            case .fifo:
                throw TarError(entry: entry.path, "is a fifo, which images may not contain here")
            case .directory, .file, .symbolicLink, .hardLink:
                break
            }
            try makeDirectories(parent, entry: entry.path)
            let target = "\(root)/\(relative)"
            written.insert(relative)
            switch entry.kind {
            case .directory:
                if !isDirectory(target) {
                    try remove(relative, entry: entry.path)
                    guard mkdir(target, 0o700) == 0 else { throw Self.failure(entry.path, "cannot be created") }
                }
                directoryModes[relative] = mode_t(entry.mode & 0o1777)
            case .file:
                bytes += entry.size
                guard bytes <= limits.maximumUnpackedBytes else {
                    throw TarError(
                        entry: entry.path, "takes the image past the limit of \(limits.maximumUnpackedBytes) bytes")
                }
                try remove(relative, entry: entry.path)
                let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode_t(entry.mode & 0o1777))
                guard fd >= 0 else { throw Self.failure(entry.path, "cannot be written") }
                defer { close(fd) }
                try reader.readContent { (chunk) throws(TarError) in
                    var offset = 0
                    while offset < chunk.count {
                        let count = write(fd, chunk.baseAddress! + offset, chunk.count - offset)
                        if count < 0 && errno == EINTR { continue }
                        guard count > 0 else { throw Self.failure(entry.path, "cannot be written") }
                        offset += count
                    }
                }
                // open's mode is masked by the umask; the image's bits are meant.
                fchmod(fd, mode_t(entry.mode & 0o1777))
            case .symbolicLink:
                guard !entry.linkTarget.isEmpty, !entry.linkTarget.utf8.contains(0) else {
                    throw TarError(entry: entry.path, "is a symbolic link with an empty or NUL-bearing target")
                }
                try remove(relative, entry: entry.path)
                guard symlink(entry.linkTarget, target) == 0 else {
                    throw Self.failure(entry.path, "cannot be created")
                }
            case .hardLink:
                let source = try Self.relativePath(entry.linkTarget, entry: entry.path, what: "hard link target")
                guard !source.isEmpty else { throw TarError(entry: entry.path, "is a hard link to the root") }
                let sourceComponents = source.split(separator: "/")
                try checkParents(sourceComponents.dropLast().joined(separator: "/"), entry: entry.path)
                var info = stat()
                guard lstat("\(root)/\(source)", &info) == 0 else {
                    throw TarError(
                        entry: entry.path, "is a hard link to \(entry.linkTarget), which is not in the image before it")
                }
                guard info.st_mode & S_IFMT != S_IFDIR else {
                    throw TarError(entry: entry.path, "is a hard link to the directory \(entry.linkTarget)")
                }
                if source == relative { continue }
                try remove(relative, entry: entry.path)
                // linkat without AT_SYMLINK_FOLLOW links a symbolic link itself, never what it points to.
                guard linkat(AT_FDCWD, "\(root)/\(source)", AT_FDCWD, target, 0) == 0 else {
                    throw Self.failure(entry.path, "cannot be linked")
                }
            case .characterDevice, .blockDevice, .fifo:
                break
            }
        }
    }

    /// Gives directories their image modes, deepest first (so that a read-only parent does not stop its children's
    /// chmod), and adds the mount points the sandbox needs (`/proc`, `/dev`, `/tmp`) when the image has none.
    mutating func finish() throws(TarError) {
        for name in ["proc", "dev", "tmp"] where !isDirectory("\(root)/\(name)") {
            var info = stat()
            if lstat("\(root)/\(name)", &info) == 0 {
                throw TarError(entry: name, "is not a directory, but the sandbox mounts one there")
            }
            guard mkdir("\(root)/\(name)", 0o755) == 0 else { throw Self.failure(name, "cannot be created") }
        }
        for (path, mode) in directoryModes.sorted(by: { $0.key.count > $1.key.count })
        where isDirectory("\(root)/\(path)") {
            chmod("\(root)/\(path)", mode)
        }
        directoryModes = [:]
    }

    // MARK: paths

    /// The entry's path relative to the root: leading `./` (and `.` components, empty components and a trailing
    /// `/`) dropped; absolute paths, `..` and NUL refused.
    static func relativePath(_ path: String, entry: String, what: String = "path") throws(TarError) -> String {
        if path.utf8.contains(0) { throw TarError(entry: entry, "has a \(what) containing NUL") }
        var rest = Substring(path)
        while rest.hasPrefix("./") { rest = rest.dropFirst(2) }
        if rest.hasPrefix("/") { throw TarError(entry: entry, "has the absolute \(what) \(path)") }
        var components: [Substring] = []
        for component in rest.split(separator: "/", omittingEmptySubsequences: true) {
            if component == ".." { throw TarError(entry: entry, "has a \(what) that climbs out with '..'") }
            if component == "." { continue }
            components.append(component)
        }
        return components.joined(separator: "/")
    }

    /// Refuses a parent path that goes through a symbolic link or a non-directory; missing parents are fine
    /// (``makeDirectories(_:entry:)`` creates them).
    private func checkParents(_ parent: String, entry: String) throws(TarError) {
        var path = root
        for component in parent.split(separator: "/") {
            path += "/\(component)"
            var info = stat()
            guard lstat(path, &info) == 0 else { return }
            switch info.st_mode & S_IFMT {
            case S_IFDIR: continue
            case S_IFLNK: throw TarError(entry: entry, "lies below a symbolic link (\(path.dropFirst(root.count + 1)))")
            default: throw TarError(entry: entry, "lies below a file that is not a directory")
            }
        }
    }

    /// Creates the missing directories of `parent` (checked by ``checkParents(_:entry:)``).
    private func makeDirectories(_ parent: String, entry: String) throws(TarError) {
        var path = root
        for component in parent.split(separator: "/") {
            path += "/\(component)"
            if mkdir(path, 0o755) != 0 && errno != EEXIST { throw Self.failure(entry, "cannot be created") }
        }
    }

    private func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }

    /// Removes what is at `relative` (a whole tree for a directory, a link itself for a link); nothing there is fine.
    private mutating func remove(_ relative: String, entry: String) throws(TarError) {
        let path = "\(root)/\(relative)"
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if info.st_mode & S_IFMT == S_IFDIR {
            guard Self.removeTree(path) else { throw Self.failure(entry, "cannot replace \(relative)") }
            let prefix = relative + "/"
            directoryModes = directoryModes.filter { $0.key != relative && !$0.key.hasPrefix(prefix) }
        } else {
            guard unlink(path) == 0 else { throw Self.failure(entry, "cannot replace \(relative)") }
        }
    }

    /// An opaque whiteout: everything in `directory` that this layer did not write goes.
    private mutating func removeChildren(
        of directory: String, keeping written: Set<String>, entry: String
    ) throws(TarError) {
        let path = directory.isEmpty ? root : "\(root)/\(directory)"
        for name in Self.names(in: path) {
            let child = directory.isEmpty ? name : "\(directory)/\(name)"
            if written.contains(child) { continue }
            if written.contains(where: { $0.hasPrefix(child + "/") }) {
                // The layer wrote below it already: keep what it wrote, drop the rest, level by level.
                if isDirectory("\(root)/\(child)") {
                    try removeChildren(of: child, keeping: written, entry: entry)
                    continue
                }
            }
            try remove(child, entry: entry)
        }
    }

    static func names(in directory: String) -> [String] {
        guard let stream = opendir(directory) else { return [] }
        defer { closedir(stream) }
        var names: [String] = []
        while let item = readdir(stream) {
            let name = withUnsafeBytes(of: item.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Removes a tree without following links, making read-only directories writable first (the rootfs keeps
    /// the image's modes). True when it is gone.
    @discardableResult
    static func removeTree(_ path: String) -> Bool {
        var info = stat()
        guard lstat(path, &info) == 0 else { return true }
        if info.st_mode & S_IFMT == S_IFDIR {
            chmod(path, 0o700)
            for name in names(in: path) { removeTree("\(path)/\(name)") }
            return rmdir(path) == 0
        }
        return unlink(path) == 0
    }

    private static func failure(_ entry: String, _ what: String) -> TarError {
        TarError(entry: entry, "\(what) (\(String(cString: strerror(errno))))")
    }
}
