import AlbatrossCrypto
import CodeStore
import Foundation

extension Registry {
    /// The directory holding the unpacked code of `record`: `<data>/tasks/<hex sha256>`, unpacked once per
    /// CodeSha256 and shared by every version with that code.
    ///
    /// Before unpacking, the stored package's SHA-256 is checked against the record's CodeSha256, so a package
    /// altered on disk is refused (a 500 naming the file). The verified bytes are unpacked from a private copy into
    /// a staging directory that is then renamed into place, so the directory appears complete or not at all.
    public func taskRoot(for record: FunctionVersionRecord) throws(RegistryError) -> String {
        let what = "\(record.functionName):\(record.version)"
        let hex = try Self.hex(ofCodeSha256: record.codeSha256, what: what)
        let target = "\(tasksDirectory)/\(hex)"
        if Self.isDirectory(target) { return target }
        let staging = "\(tasksDirectory)/.staging-\(hex)-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: staging) }
        try unpackVerified(codeSha256: record.codeSha256, what: what, into: staging)
        try Self.moveIntoPlace(staging, target)
        return target
    }

    /// Unpacks the stored package with `codeSha256` into the new directory `directory`, after checking the
    /// package's bytes against their hash (a 500 naming the file when they differ).
    func unpackVerified(codeSha256: String, what: String, into directory: String) throws(RegistryError) {
        let hex = try Self.hex(ofCodeSha256: codeSha256, what: what)
        let package = packagePath(hex: hex)
        guard let data = FileManager.default.contents(atPath: package) else {
            throw .store("the code package \(package) of \(what) is missing")
        }
        let actual = SHA256.base64(SHA256.digest(data))
        guard actual == codeSha256 else {
            throw .store(
                "the code package \(package) of \(what) was altered: its SHA-256 is \(actual), not the stored "
                    + "CodeSha256 \(codeSha256)")
        }
        let copy = "\(directory).zip"
        defer { unlink(copy) }
        guard FileManager.default.createFile(atPath: copy, contents: data) else {
            throw .store("cannot write \(copy)")
        }
        do {
            try ZipArchive.unpack(archive: copy, into: directory)
        } catch {
            throw .store(
                "cannot unpack the code package \(package) of \(what): \(error.problem)"
                    + (error.entry.map { " (entry \($0))" } ?? ""))
        }
    }

    /// Renames a complete staging directory to `target`; when another caller got there first, theirs is
    /// identical and is kept.
    static func moveIntoPlace(_ staging: String, _ target: String) throws(RegistryError) {
        if rename(staging, target) != 0 {
            guard errno == EEXIST || errno == ENOTEMPTY else {
                throw .store("cannot move \(staging) to \(target) (errno \(errno))")
            }
        }
        FileStore.syncDirectory(of: target)
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }
}
