import CZlib
public import Foundation

/// Reads .zip code packages (stored and deflated entries, as `zip` and every SDK produce them) and unpacks
/// them without letting any entry escape the target directory.
///
/// Refused with a ``ZipArchiveError`` naming the archive and the entry: absolute paths, `..` components,
/// symbolic links whose target leaves the package, encrypted entries, ZIP64 archives, unknown compression
/// methods, CRC mismatches, and packages over the unpacked size limit (250 MB, Lambda's quota).
public enum ZipArchive {
    public static let maximumUnpackedSize = 250 * 1024 * 1024
    public static let maximumEntries = 100_000

    /// One entry of the central directory.
    public struct Entry: Sendable, Hashable {
        public var path: String
        public var method: UInt16
        public var crc32: UInt32
        public var compressedSize: Int
        public var uncompressedSize: Int
        /// Unix mode bits when the archive was made on Unix (file type and permissions); nil otherwise.
        public var unixMode: UInt32?
        public var localHeaderOffset: Int
        public var isEncrypted: Bool

        public var isDirectory: Bool { path.hasSuffix("/") || (unixMode.map { $0 & 0o170000 == 0o040000 } ?? false) }
        public var isSymbolicLink: Bool { unixMode.map { $0 & 0o170000 == 0o120000 } ?? false }
        public var isExecutable: Bool { unixMode.map { $0 & 0o111 != 0 } ?? false }
    }

    /// Lists the entries of `data` (the whole archive).
    public static func entries(of data: Data, archive: String) throws(ZipArchiveError) -> [Entry] {
        let bytes = [UInt8](data)
        guard let eocd = findEndOfCentralDirectory(bytes) else {
            throw ZipArchiveError(archive: archive, "is not a zip archive (no end of central directory record)")
        }
        let count = Int(read16(bytes, eocd + 10))
        let directorySize = Int(read32(bytes, eocd + 12))
        let directoryOffset = Int(read32(bytes, eocd + 16))
        if count == 0xffff || directorySize == 0xffff_ffff || directoryOffset == 0xffff_ffff {
            throw ZipArchiveError(archive: archive, "uses ZIP64, which is not supported")
        }
        guard count <= maximumEntries else {
            throw ZipArchiveError(archive: archive, "has \(count) entries, more than \(maximumEntries)")
        }
        guard directoryOffset + directorySize <= eocd else {
            throw ZipArchiveError(archive: archive, "has a central directory outside the file")
        }
        var entries: [Entry] = []
        var offset = directoryOffset
        for _ in 0..<count {
            guard offset + 46 <= bytes.count, read32(bytes, offset) == 0x0201_4b50 else {
                throw ZipArchiveError(archive: archive, "has a corrupt central directory")
            }
            let madeBy = read16(bytes, offset + 4)
            let flags = read16(bytes, offset + 8)
            let method = read16(bytes, offset + 10)
            let crc = read32(bytes, offset + 16)
            let compressed = Int(read32(bytes, offset + 20))
            let uncompressed = Int(read32(bytes, offset + 24))
            let nameLength = Int(read16(bytes, offset + 28))
            let extraLength = Int(read16(bytes, offset + 30))
            let commentLength = Int(read16(bytes, offset + 32))
            let external = read32(bytes, offset + 38)
            let localOffset = Int(read32(bytes, offset + 42))
            guard offset + 46 + nameLength <= bytes.count else {
                throw ZipArchiveError(archive: archive, "has a corrupt central directory")
            }
            let name = String(decoding: bytes[(offset + 46)..<(offset + 46 + nameLength)], as: UTF8.self)
            entries.append(
                Entry(
                    path: name, method: method, crc32: crc, compressedSize: compressed, uncompressedSize: uncompressed,
                    unixMode: madeBy >> 8 == 3 ? external >> 16 : nil, localHeaderOffset: localOffset,
                    isEncrypted: flags & 1 != 0))
            offset += 46 + nameLength + extraLength + commentLength
        }
        return entries
    }

    /// Unpacks `archive` into `directory` (created; must not exist or be empty).
    public static func unpack(archive: String, into directory: String) throws(ZipArchiveError) {
        guard let data = FileManager.default.contents(atPath: archive) else {
            throw ZipArchiveError(archive: archive, "cannot be read")
        }
        let bytes = [UInt8](data)
        let entries = try entries(of: data, archive: archive)
        let total = entries.reduce(0) { $0 + $1.uncompressedSize }
        guard total <= maximumUnpackedSize else {
            throw ZipArchiveError(
                archive: archive, "unpacks to \(total) bytes, over the \(maximumUnpackedSize)-byte limit")
        }
        let fileManager = FileManager.default
        do {
            try fileManager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ZipArchiveError(archive: archive, "cannot create \(directory): \(error)")
        }
        for entry in entries {
            let relative = try safeRelativePath(entry.path, archive: archive)
            if relative.isEmpty { continue }
            guard !entry.isEncrypted else { throw ZipArchiveError(archive: archive, entry: entry.path, "is encrypted") }
            let target = "\(directory)/\(relative)"
            let parent = (target as NSString).deletingLastPathComponent
            do {
                try fileManager.createDirectory(atPath: parent, withIntermediateDirectories: true)
            } catch {
                throw ZipArchiveError(archive: archive, entry: entry.path, "cannot be created: \(error)")
            }
            try refuseSymbolicLinkParents(of: relative, in: directory, archive: archive, entry: entry.path)
            if entry.isDirectory {
                do {
                    try fileManager.createDirectory(atPath: target, withIntermediateDirectories: true)
                } catch {
                    throw ZipArchiveError(archive: archive, entry: entry.path, "cannot be created: \(error)")
                }
                continue
            }
            let content = try contents(of: entry, in: bytes, archive: archive)
            if entry.isSymbolicLink {
                let destination = String(decoding: content, as: UTF8.self)
                try checkSymbolicLink(destination, at: relative, archive: archive, entry: entry.path)
                guard symlink(destination, target) == 0 else {
                    throw ZipArchiveError(archive: archive, entry: entry.path, "cannot be created (errno \(errno))")
                }
                continue
            }
            let mode: mode_t = entry.isExecutable || (entry.unixMode == nil && relative == "bootstrap") ? 0o755 : 0o644
            let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
            guard fd >= 0 else {
                throw ZipArchiveError(archive: archive, entry: entry.path, "cannot be written (errno \(errno))")
            }
            defer { close(fd) }
            let written = content.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written == content.count else {
                throw ZipArchiveError(archive: archive, entry: entry.path, "cannot be written (errno \(errno))")
            }
        }
    }

    /// The entry's path made relative and checked: no absolute path, no `..`, no empty components.
    static func safeRelativePath(_ path: String, archive: String) throws(ZipArchiveError) -> String {
        if path.hasPrefix("/") || path.hasPrefix("\\") || path.contains("\\") || path.utf8.contains(0) {
            throw ZipArchiveError(archive: archive, entry: path, "has an absolute or unsafe path")
        }
        var components: [Substring] = []
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            if component == ".." {
                throw ZipArchiveError(archive: archive, entry: path, "escapes the package with '..'")
            }
            if component == "." { continue }
            components.append(component)
        }
        return components.joined(separator: "/")
    }

    /// A symbolic link may point only inside the package: relative, never above its root, and with every `..`
    /// before the first name. A `..` after a name is refused because the name may be another link of the package
    /// (`up` → `dot/..` with `dot` → `.` leaves it); with the `..`s first, each link climbs only real directories
    /// (no entry is unpacked below a link) and then descends, so no chain of links leaves the package. A NUL in
    /// the target is refused: the link would be made from the text before it, not the text checked.
    static func checkSymbolicLink(
        _ destination: String, at relative: String, archive: String, entry: String
    )
        throws(ZipArchiveError)
    {
        if destination.hasPrefix("/") {
            throw ZipArchiveError(
                archive: archive, entry: entry, "is a symbolic link to the absolute path \(destination)")
        }
        if destination.utf8.contains(0) {
            throw ZipArchiveError(archive: archive, entry: entry, "is a symbolic link whose target contains NUL")
        }
        var depth = relative.split(separator: "/").count - 1
        var descended = false
        for component in destination.split(separator: "/", omittingEmptySubsequences: true) {
            if component == ".." {
                if descended {
                    throw ZipArchiveError(
                        archive: archive, entry: entry,
                        "is a symbolic link with '..' after a name (\(destination)), which could leave the package")
                }
                depth -= 1
                if depth < 0 {
                    throw ZipArchiveError(
                        archive: archive, entry: entry,
                        "is a symbolic link pointing outside the package (\(destination))")
                }
            } else if component != "." {
                descended = true
                depth += 1
            }
        }
    }

    /// Writing through a link unpacked earlier would escape the target: refuse entries below a symbolic link.
    static func refuseSymbolicLinkParents(
        of relative: String, in directory: String, archive: String, entry: String
    )
        throws(ZipArchiveError)
    {
        var path = directory
        for component in relative.split(separator: "/").dropLast() {
            path += "/\(component)"
            var info = stat()
            if lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFLNK {
                throw ZipArchiveError(archive: archive, entry: entry, "lies below a symbolic link")
            }
        }
    }

    static func contents(of entry: Entry, in bytes: [UInt8], archive: String) throws(ZipArchiveError) -> [UInt8] {
        let header = entry.localHeaderOffset
        guard header + 30 <= bytes.count, read32(bytes, header) == 0x0403_4b50 else {
            throw ZipArchiveError(archive: archive, entry: entry.path, "has a corrupt local header")
        }
        let start = header + 30 + Int(read16(bytes, header + 26)) + Int(read16(bytes, header + 28))
        guard start + entry.compressedSize <= bytes.count else {
            throw ZipArchiveError(archive: archive, entry: entry.path, "is truncated")
        }
        let compressed = Array(bytes[start..<(start + entry.compressedSize)])
        let output: [UInt8]
        switch entry.method {
        case 0:
            output = compressed
        case 8:
            output = try inflate(compressed, expected: entry.uncompressedSize, archive: archive, entry: entry.path)
        default:
            throw ZipArchiveError(
                archive: archive, entry: entry.path, "uses unsupported compression method \(entry.method)")
        }
        guard output.count == entry.uncompressedSize else {
            throw ZipArchiveError(archive: archive, entry: entry.path, "has the wrong size")
        }
        let crc = output.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
        guard crc == entry.crc32 else {
            throw ZipArchiveError(archive: archive, entry: entry.path, "fails its CRC check")
        }
        return output
    }

    static func inflate(
        _ input: [UInt8], expected: Int, archive: String, entry: String
    ) throws(ZipArchiveError) -> [UInt8] {
        var stream = z_stream()
        guard albatross_inflate_init_raw(&stream) == Z_OK else {
            throw ZipArchiveError(archive: archive, entry: entry, "cannot be inflated")
        }
        defer { inflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: max(expected, 1))
        let status = ZlibStream.finish(&stream, input: input, output: &output, CZlib.inflate)
        guard status == Z_STREAM_END, Int(stream.total_out) == expected else {
            throw ZipArchiveError(archive: archive, entry: entry, "has corrupt compressed data")
        }
        return Array(output.prefix(expected))
    }

    static func findEndOfCentralDirectory(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 22 else { return nil }
        let lowest = max(0, bytes.count - 22 - 65535)
        var offset = bytes.count - 22
        while offset >= lowest {
            if read32(bytes, offset) == 0x0605_4b50 { return offset }
            offset -= 1
        }
        return nil
    }

    static func read16(_ bytes: [UInt8], _ offset: Int) -> UInt16 {
        UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }

    static func read32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
            | UInt32(bytes[offset + 3]) << 24
    }
}

/// A code package that cannot be unpacked, naming the archive and the entry at fault.
public struct ZipArchiveError: Error, CustomStringConvertible, Equatable {
    public var archive: String
    public var entry: String?
    public var problem: String

    public init(archive: String, entry: String? = nil, _ problem: String) {
        self.archive = archive
        self.entry = entry
        self.problem = problem
    }

    public var description: String {
        if let entry { return "\(archive): entry \(entry) \(problem)" }
        return "\(archive) \(problem)"
    }
}
