/// The bounds a tar stream is read within, so that a hostile layer cannot exhaust the disk or memory.
public struct TarLimits: Sendable, Hashable {
    /// Entries of one image, all layers together.
    public var maximumEntries: Int
    /// Bytes of file content of one image, all layers together (Lambda's limit for an image: 10 GB).
    public var maximumUnpackedBytes: UInt64
    /// Bytes of a path or a link target.
    public var maximumPathLength: Int
    /// Bytes of a pax extended header or a GNU long name, which are held in memory.
    public var maximumMetadataBytes: Int

    public init(
        maximumEntries: Int = 1_000_000, maximumUnpackedBytes: UInt64 = 10 * 1024 * 1024 * 1024,
        maximumPathLength: Int = 4096, maximumMetadataBytes: Int = 1 << 20
    ) {
        self.maximumEntries = maximumEntries
        self.maximumUnpackedBytes = maximumUnpackedBytes
        self.maximumPathLength = maximumPathLength
        self.maximumMetadataBytes = maximumMetadataBytes
    }
}

/// One member of a tar stream, with pax (`path`, `linkpath`, `size`) and GNU long-name (`L`, `K`) records applied.
struct TarEntry: Sendable, Hashable {
    enum Kind: Sendable, Hashable {
        case file, directory, symbolicLink, hardLink, characterDevice, blockDevice, fifo
    }

    var path: String
    var kind: Kind
    /// Permission bits (and the file type bits some writers add; the unpacker keeps only `0o1777`).
    var mode: UInt32
    var size: UInt64
    /// A link's target; empty otherwise.
    var linkTarget: String
}

/// Reads a tar stream (POSIX ustar, pax extended headers, GNU long names) one entry at a time, streaming each
/// file's content without holding it. Header checksums are verified; sparse files, volume headers and other
/// unknown entry types are refused. The reader itself enforces the path-length and metadata bounds; entry and
/// byte budgets span layers and are the unpacker's.
struct TarReader<Source: ByteSource> {
    private(set) var source: Source
    let limits: TarLimits
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    private var start = 0
    private var end = 0
    /// Bytes handed out from the source so far: where the next byte is in the stream.
    private(set) var position: UInt64 = 0
    /// Content of the current entry not yet read, and the padding to the next 512-byte block.
    private var remaining: UInt64 = 0
    private var padding: UInt64 = 0

    init(_ source: Source, limits: TarLimits) {
        self.source = source
        self.limits = limits
    }

    /// The next entry (its content is then read with ``readContent(_:)`` or skipped by the next call), or nil at
    /// the end of the archive.
    mutating func next() throws(TarError) -> TarEntry? {
        try skip(remaining + padding)
        remaining = 0
        padding = 0
        var pax: [String: String] = [:]
        var longName: String?
        var longLink: String?
        while true {
            guard let header = try readBlock() else {
                if pax.isEmpty && longName == nil && longLink == nil { return nil }
                throw TarError("the archive ends after an extended header")
            }
            if header.allSatisfy({ $0 == 0 }) { return nil }
            try verifyChecksum(header)
            let type = header[156]
            var size = try number(header[124..<136], field: "size")
            if type != UInt8(ascii: "x") && type != UInt8(ascii: "g"), let text = pax["size"] {
                guard let value = UInt64(text) else { throw TarError("has a pax size that is not a number: \(text)") }
                size = value
            }
            switch type {
            case UInt8(ascii: "x"), UInt8(ascii: "g"), UInt8(ascii: "L"), UInt8(ascii: "K"):
                guard size <= UInt64(limits.maximumMetadataBytes) else {
                    throw TarError("has an extended header of \(size) bytes, over \(limits.maximumMetadataBytes)")
                }
                let content = try readExactly(Int(size))
                try skip(Self.padding(of: size))
                if type == UInt8(ascii: "x") {
                    for (key, value) in try Self.paxRecords(content) { pax[key] = value }
                } else if type == UInt8(ascii: "L") {
                    longName = try Self.text(content.prefix { $0 != 0 }, what: "long name")
                } else if type == UInt8(ascii: "K") {
                    longLink = try Self.text(content.prefix { $0 != 0 }, what: "long link name")
                }
                // Global pax headers (`g`) set defaults for later entries: only comments and times in practice;
                // ignored.
                continue
            default:
                break
            }
            var path = try Self.text(Self.field(header[0..<100]), what: "name")
            let magic = Array(header[257..<263])
            if magic == Array("ustar\u{0}".utf8) {
                let prefix = try Self.text(Self.field(header[345..<500]), what: "name prefix")
                if !prefix.isEmpty { path = prefix + "/" + path }
            }
            if let longName { path = longName }
            if let value = pax["path"] { path = value }
            var linkTarget = try Self.text(Self.field(header[157..<257]), what: "link name")
            if let longLink { linkTarget = longLink }
            if let value = pax["linkpath"] { linkTarget = value }
            guard path.utf8.count <= limits.maximumPathLength, linkTarget.utf8.count <= limits.maximumPathLength else {
                throw TarError(
                    entry: String(path.prefix(200)), "has a path or link longer than \(limits.maximumPathLength) bytes")
            }
            let mode = UInt32(truncatingIfNeeded: try number(header[100..<108], field: "mode"))
            let kind: TarEntry.Kind
            switch type {
            case 0, UInt8(ascii: "0"), UInt8(ascii: "7"): kind = path.hasSuffix("/") ? .directory : .file
            case UInt8(ascii: "1"): kind = .hardLink
            case UInt8(ascii: "2"): kind = .symbolicLink
            case UInt8(ascii: "3"): kind = .characterDevice
            case UInt8(ascii: "4"): kind = .blockDevice
            case UInt8(ascii: "5"): kind = .directory
            case UInt8(ascii: "6"): kind = .fifo
            default:
                let shown = type >= 0x20 && type < 0x7f ? "'\(Character(Unicode.Scalar(type)))'" : "\(type)"
                throw TarError(entry: path, "has the unsupported tar entry type \(shown)")
            }
            // Only regular files carry content, whatever the size field of another type says (as GNU tar and Python's
            // tarfile read it).
            let contentSize: UInt64 = kind == .file ? size : 0
            remaining = contentSize
            padding = Self.padding(of: contentSize)
            return TarEntry(path: path, kind: kind, mode: mode, size: contentSize, linkTarget: linkTarget)
        }
    }

    /// Streams the current entry's content to `consume`, in chunks.
    mutating func readContent(_ consume: (UnsafeRawBufferPointer) throws(TarError) -> Void) throws(TarError) {
        while remaining > 0 {
            if start == end { try fill() }
            let count = Int(min(UInt64(end - start), remaining))
            let range = start..<(start + count)
            let result = buffer.withUnsafeBytes { raw in
                Result { () throws(TarError) in try consume(UnsafeRawBufferPointer(rebasing: raw[range])) }
            }
            try result.get()
            start += count
            position += UInt64(count)
            remaining -= UInt64(count)
        }
    }

    /// Where the current entry's unread content starts in the stream (for indexing an uncompressed tarball).
    var contentPosition: UInt64 { position }

    // MARK: buffer

    private mutating func fill() throws(TarError) {
        start = 0
        end = try source.read(into: &buffer)
        if end == 0 { throw TarError("the archive is truncated") }
    }

    /// A 512-byte header block, or nil at a clean end of the stream (some writers omit the end blocks).
    private mutating func readBlock() throws(TarError) -> [UInt8]? {
        if start == end {
            start = 0
            end = try source.read(into: &buffer)
            if end == 0 { return nil }
        }
        return try readExactly(512)
    }

    private mutating func readExactly(_ count: Int) throws(TarError) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(count)
        while result.count < count {
            if start == end { try fill() }
            let take = min(end - start, count - result.count)
            result += buffer[start..<(start + take)]
            start += take
            position += UInt64(take)
        }
        return result
    }

    private mutating func skip(_ count: UInt64) throws(TarError) {
        var left = count
        // What is buffered first; the rest without reading it when the source can (an uncompressed tarball's
        // members are skipped by offset, not read).
        let buffered = Int(min(UInt64(end - start), left))
        start += buffered
        position += UInt64(buffered)
        left -= UInt64(buffered)
        if left > 0 && source.skip(left) {
            position += left
            return
        }
        while left > 0 {
            if start == end { try fill() }
            let take = Int(min(UInt64(end - start), left))
            start += take
            position += UInt64(take)
            left -= UInt64(take)
        }
    }

    // MARK: fields

    static func padding(of size: UInt64) -> UInt64 { (512 - size % 512) % 512 }

    /// A NUL-terminated field.
    static func field(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> { bytes.prefix { $0 != 0 } }

    /// UTF-8 text (invalid sequences refused: a name must be what was checked).
    static func text(_ bytes: some Collection<UInt8>, what: String) throws(TarError) -> String {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw TarError("has a \(what) that is not UTF-8")
        }
        return text
    }

    /// An octal field, or GNU's base-256 (high bit of the first byte set) for large values.
    private func number(_ bytes: ArraySlice<UInt8>, field: String) throws(TarError) -> UInt64 {
        if let first = bytes.first, first & 0x80 != 0 {
            guard first == 0x80 else { throw TarError("has a negative or oversized \(field) field") }
            var value: UInt64 = 0
            for byte in bytes.dropFirst() {
                guard value >> 56 == 0 else { throw TarError("has an oversized \(field) field") }
                value = value << 8 | UInt64(byte)
            }
            return value
        }
        var value: UInt64 = 0
        var digits = bytes.drop { $0 == 0x20 }
        digits = digits.prefix { $0 != 0 && $0 != 0x20 }
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "7"), value >> 60 == 0 else {
                throw TarError("has a corrupt header (\(field) field is not an octal number)")
            }
            value = value << 3 | UInt64(byte - UInt8(ascii: "0"))
        }
        return value
    }

    /// The header's checksum (the unsigned sum of its bytes with the checksum field as spaces; some old writers
    /// summed signed bytes, accepted too).
    private func verifyChecksum(_ header: [UInt8]) throws(TarError) {
        let stored = try number(header[148..<156], field: "checksum")
        var unsigned: Int = 0
        var signed: Int = 0
        for (index, byte) in header.enumerated() {
            let value = index >= 148 && index < 156 ? 0x20 : byte
            unsigned += Int(value)
            signed += Int(Int8(bitPattern: value))
        }
        guard stored == UInt64(unsigned) || Int(stored) == signed else {
            throw TarError("has a corrupt header (checksum mismatch): not a tar archive, or damaged")
        }
    }

    /// `<length> <key>=<value>\n` records.
    static func paxRecords(_ bytes: [UInt8]) throws(TarError) -> [(String, String)] {
        var records: [(String, String)] = []
        var index = 0
        while index < bytes.count {
            if bytes[index] == 0 { break }
            guard let space = bytes[index...].firstIndex(of: 0x20),
                let length = Int(String(decoding: bytes[index..<space], as: UTF8.self)), length > 0,
                index + length <= bytes.count, bytes[index + length - 1] == 0x0a,
                let equals = bytes[(space + 1)..<(index + length)].firstIndex(of: UInt8(ascii: "="))
            else { throw TarError("has a corrupt pax extended header") }
            let key = try text(bytes[(space + 1)..<equals], what: "pax key")
            let value = try text(bytes[(equals + 1)..<(index + length - 1)], what: "pax \(key)")
            records.append((key, value))
            index += length
        }
        return records
    }
}
