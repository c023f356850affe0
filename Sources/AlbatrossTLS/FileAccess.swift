#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Small POSIX file helpers. The TLS module reads certificates and writes keys with exact permissions, and
/// needs errors that name the file, which is simpler to get right with the system calls than with Foundation.
/// They block: call them at start-up, on reload, or from a thread pool, never on an event loop.
enum FileAccess {
    static func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT { throw TLSError.fileMissing(path) }
            throw TLSError.fileUnreadable(path, String(cString: strerror(code)))
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw TLSError.fileUnreadable(path, String(cString: strerror(errno)))
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > 1 << 24 { throw TLSError.fileUnreadable(path, "larger than 16 MiB") }
        }
        return bytes
    }

    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// Writes through a temporary file and rename, so a reader never sees half a key; the file gets `mode`
    /// from its creation on, never a wider one.
    static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t) throws {
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        if fd < 0 { throw TLSError.fileUnwritable(temporary, String(cString: strerror(errno))) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                close(fd)
                unlink(temporary)
                throw TLSError.fileUnwritable(temporary, reason)
            }
            offset += written
        }
        fchmod(fd, mode)
        fsync(fd)
        close(fd)
        if rename(temporary, path) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw TLSError.fileUnwritable(path, reason)
        }
    }

    /// Creates `path` (and its parents) as directories with `mode` when missing.
    static func makeDirectory(_ path: String, mode: mode_t) throws {
        if path.isEmpty || exists(path) { return }
        let parent = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        if !parent.isEmpty && parent != path { try makeDirectory(parent, mode: 0o755) }
        if mkdir(path, mode) != 0 && errno != EEXIST {
            throw TLSError.fileUnwritable(path, String(cString: strerror(errno)))
        }
    }
}
