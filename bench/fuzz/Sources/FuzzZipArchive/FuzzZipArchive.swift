// libFuzzer target: CodeStore's zip reader, which unpacks every code package and layer.
//
// The CRC-32 fields of the stored (uncompressed) entries are recomputed first, so that mutated contents and link
// targets get past the CRC check to the path checks. The result is listed with `ZipArchive.entries`; when that
// succeeds (an empty list is impossible then: the bytes have an end record), it is written to a file and unpacked
// with `ZipArchive.unpack` into `box/package` under a private temporary directory, as the code store does.
//
// Checks beyond "does not crash": whether unpacking succeeds or fails, nothing is created in `box` besides
// `package`, and every symbolic link under `package` that resolves at all resolves inside `package`.
import CodeStore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

private let workRoot: String = {
    let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
    var template = Array("\(base)/albatross-fuzz-zip.XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { fatalError("mkdtemp failed") }
    // Left for the run script to remove, with the rest of its work directory.
    return String(cString: made)
}()

private func le16(_ bytes: [UInt8], _ offset: Int) -> Int { Int(bytes[offset]) | Int(bytes[offset + 1]) << 8 }
private func le32(_ bytes: [UInt8], _ offset: Int) -> Int { le16(bytes, offset) | le16(bytes, offset + 2) << 16 }
private func put32(_ bytes: inout [UInt8], _ offset: Int, _ value: UInt32) {
    for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(index))) }
}

private let crcTable: [UInt32] = (0..<256).map { (n: Int) -> UInt32 in
    var c = UInt32(n)
    for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
}

private func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for byte in bytes { c = crcTable[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
    return c ^ 0xFFFF_FFFF
}

/// Recomputes the CRC-32 of each stored entry (central directory and local header), where the records are in range.
private func fixingCRCs(_ input: [UInt8]) -> [UInt8] {
    var bytes = input
    guard bytes.count >= 22 else { return bytes }
    var eocd = bytes.count - 22
    while eocd >= max(0, bytes.count - 22 - 65535), le32(bytes, eocd) != 0x0605_4b50 { eocd -= 1 }
    guard eocd >= 0, le32(bytes, eocd) == 0x0605_4b50 else { return bytes }
    var offset = le32(bytes, eocd + 16)
    for _ in 0..<le16(bytes, eocd + 10) {
        guard offset + 46 <= bytes.count, le32(bytes, offset) == 0x0201_4b50 else { break }
        let method = le16(bytes, offset + 10)
        let size = le32(bytes, offset + 20)
        let local = le32(bytes, offset + 42)
        if method == 0, local + 30 <= bytes.count, le32(bytes, local) == 0x0403_4b50 {
            let start = local + 30 + le16(bytes, local + 26) + le16(bytes, local + 28)
            if start + size <= bytes.count {
                let crc = crc32(bytes[start..<(start + size)])
                put32(&bytes, offset + 16, crc)
                put32(&bytes, local + 14, crc)
            }
        }
        offset += 46 + le16(bytes, offset + 28) + le16(bytes, offset + 30) + le16(bytes, offset + 32)
    }
    return bytes
}

private func isSymbolicLink(_ path: String) -> Bool {
    var info = stat()
    return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFLNK
}

private func isDirectory(_ path: String) -> Bool {
    var info = stat()
    return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
}

/// Every symbolic link below `directory` (not following links).
private func symbolicLinks(under directory: String) -> [String] {
    var found: [String] = []
    for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
        let path = "\(directory)/\(name)"
        if isSymbolicLink(path) {
            found.append(path)
        } else if isDirectory(path) {
            found += symbolicLinks(under: path)
        }
    }
    return found
}

private func resolved(_ path: String) -> String? {
    guard let real = realpath(path, nil) else { return nil }
    defer { free(real) }
    return String(cString: real)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzZipArchive(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let input = [UInt8](UnsafeRawBufferPointer(start: data, count: size))
    let fixed = fixingCRCs(input)
    // Unpacking starts with the same listing: only archives that list go on to the (slow) filesystem part.
    guard (try? ZipArchive.entries(of: Data(fixed), archive: "fuzz.zip")) != nil else { return 0 }

    let archive = "\(workRoot)/input.zip"
    let box = "\(workRoot)/box"
    let package = "\(box)/package"
    try? FileManager.default.removeItem(atPath: box)
    try? FileManager.default.createDirectory(atPath: box, withIntermediateDirectories: true)
    guard FileManager.default.createFile(atPath: archive, contents: Data(fixed)) else {
        fatalError("cannot write \(archive)")
    }
    _ = try? ZipArchive.unpack(archive: archive, into: package)

    let inBox = (try? FileManager.default.contentsOfDirectory(atPath: box)) ?? []
    check(inBox.allSatisfy { $0 == "package" }, "unpacking created \(inBox) next to the package")
    if let root = resolved(package) {
        for link in symbolicLinks(under: package) {
            guard let target = resolved(link) else { continue }
            check(
                target == root || target.hasPrefix(root + "/"),
                "symbolic link \(link) resolves outside the package, to \(target)")
        }
    }
    try? FileManager.default.removeItem(atPath: box)
    return 0
}

/// `precondition` with its message kept in release builds (libFuzzer's log then says what went wrong).
private func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}
