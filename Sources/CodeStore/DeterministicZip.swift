import CZlib
public import Foundation

/// Packs a code directory into a .zip whose bytes depend only on the files' paths, contents, types and
/// permission bits, so the same directory always gets the same SHA-256 (and therefore the same CodeSha256).
///
/// Entries are sorted by path (byte order), every timestamp is the DOS epoch (1980-01-01 00:00), owners and
/// extra fields are left out, Unix file types and permission bits (`0o777`) are kept in the external attributes.
/// Files are deflated at level 6 by the system zlib, or stored when that is not smaller. Directories get entries
/// (so empty ones survive); symbolic links are kept as links and must point inside the directory. The hash is
/// stable for a given zlib; a zlib that deflates differently would change it (stock zlib has not in years).
public enum DeterministicZip {
    /// Packs `directory` (its contents, not the directory itself).
    public static func pack(directory: String) throws(ZipArchiveError) -> Data {
        let root = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        var info = stat()
        guard stat(root, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw ZipArchiveError(archive: root, "is not a directory")
        }
        var paths: [String] = []
        try collect(root: root, relative: "", into: &paths)
        paths.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }

        var output: [UInt8] = []
        var central: [UInt8] = []
        for relative in paths {
            let full = "\(root)/\(relative)"
            var entryInfo = stat()
            guard lstat(full, &entryInfo) == 0 else {
                throw ZipArchiveError(archive: root, entry: relative, "cannot be read (errno \(errno))")
            }
            let type = entryInfo.st_mode & S_IFMT
            let mode = UInt32(type) | UInt32(entryInfo.st_mode & 0o777)
            var name = relative
            var content: [UInt8] = []
            switch type {
            case S_IFDIR:
                name += "/"
            case S_IFLNK:
                let destination = try linkDestination(full, root: root, relative: relative)
                try ZipArchive.checkSymbolicLink(destination, at: relative, archive: root, entry: relative)
                content = Array(destination.utf8)
            case S_IFREG:
                guard let data = FileManager.default.contents(atPath: full) else {
                    throw ZipArchiveError(archive: root, entry: relative, "cannot be read")
                }
                content = [UInt8](data)
            default:
                throw ZipArchiveError(archive: root, entry: relative, "is not a file, directory or symbolic link")
            }
            guard content.count < Int(UInt32.max), output.count < Int(UInt32.max) else {
                throw ZipArchiveError(archive: root, entry: relative, "is too large for a zip without ZIP64")
            }
            let crc = content.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
            var method: UInt16 = 0
            var stored = content
            if type == S_IFREG, !content.isEmpty, let deflated = deflate(content), deflated.count < content.count {
                method = 8
                stored = deflated
            }
            let nameBytes = Array(name.utf8)
            let offset = UInt32(output.count)
            // Local file header.
            append32(&output, 0x0403_4b50)
            append16(&output, 20)  // version needed: 2.0
            append16(&output, 0x0800)  // names are UTF-8
            append16(&output, method)
            append16(&output, 0)  // time 00:00:00
            append16(&output, 0x0021)  // date 1980-01-01
            append32(&output, crc)
            append32(&output, UInt32(stored.count))
            append32(&output, UInt32(content.count))
            append16(&output, UInt16(nameBytes.count))
            append16(&output, 0)
            output += nameBytes
            output += stored
            // Central directory entry.
            append32(&central, 0x0201_4b50)
            append16(&central, 0x031e)  // made by: Unix, 3.0
            append16(&central, 20)
            append16(&central, 0x0800)
            append16(&central, method)
            append16(&central, 0)
            append16(&central, 0x0021)
            append32(&central, crc)
            append32(&central, UInt32(stored.count))
            append32(&central, UInt32(content.count))
            append16(&central, UInt16(nameBytes.count))
            append16(&central, 0)  // extra
            append16(&central, 0)  // comment
            append16(&central, 0)  // disk
            append16(&central, 0)  // internal attributes
            append32(&central, mode << 16 | (type == S_IFDIR ? 0x10 : 0))
            append32(&central, offset)
            central += nameBytes
        }
        guard paths.count < 0xffff, output.count + central.count < Int(UInt32.max) else {
            throw ZipArchiveError(archive: root, "is too large for a zip without ZIP64")
        }
        let centralOffset = UInt32(output.count)
        output += central
        append32(&output, 0x0605_4b50)
        append16(&output, 0)
        append16(&output, 0)
        append16(&output, UInt16(paths.count))
        append16(&output, UInt16(paths.count))
        append32(&output, UInt32(central.count))
        append32(&output, centralOffset)
        append16(&output, 0)
        return Data(output)
    }

    /// Every path below `root` (files, directories, links; links are not followed), relative to it.
    private static func collect(root: String, relative: String, into paths: inout [String]) throws(ZipArchiveError) {
        let directory = relative.isEmpty ? root : "\(root)/\(relative)"
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw ZipArchiveError(archive: root, entry: relative.isEmpty ? nil : relative, "cannot be listed: \(error)")
        }
        for name in names {
            let path = relative.isEmpty ? name : "\(relative)/\(name)"
            paths.append(path)
            var info = stat()
            if lstat("\(root)/\(path)", &info) == 0, info.st_mode & S_IFMT == S_IFDIR {
                try collect(root: root, relative: path, into: &paths)
            }
        }
    }

    private static func linkDestination(
        _ path: String, root: String, relative: String
    ) throws(ZipArchiveError)
        -> String
    {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count >= 0 else {
            throw ZipArchiveError(archive: root, entry: relative, "cannot be read (errno \(errno))")
        }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Raw deflate (no zlib header), level 6, default strategy: what zip tools write.
    private static func deflate(_ input: [UInt8]) -> [UInt8]? {
        var stream = z_stream()
        let status = deflateInit2_(
            &stream, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { return nil }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))))
        let result = ZlibStream.finish(&stream, input: input, output: &output, CZlib.deflate)
        guard result == Z_STREAM_END else { return nil }
        return Array(output.prefix(Int(stream.total_out)))
    }

    private static func append16(_ bytes: inout [UInt8], _ value: UInt16) {
        bytes.append(UInt8(value & 0xff))
        bytes.append(UInt8(value >> 8))
    }

    private static func append32(_ bytes: inout [UInt8], _ value: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8((value >> UInt32(shift)) & 0xff)) }
    }
}
