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
        var info = stat()
        if stat(target, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR { return target }

        let package = packagePath(hex: hex)
        guard let data = FileManager.default.contents(atPath: package) else {
            throw .store("the code package \(package) of \(what) is missing")
        }
        let actual = SHA256.base64(SHA256.digest(data))
        guard actual == record.codeSha256 else {
            throw .store(
                "the code package \(package) of \(what) was altered: its SHA-256 is \(actual), not the stored "
                    + "CodeSha256 \(record.codeSha256)")
        }
        let staging = "\(tasksDirectory)/.staging-\(hex)-\(UUID().uuidString)"
        let copy = "\(staging).zip"
        defer {
            unlink(copy)
            try? FileManager.default.removeItem(atPath: staging)
        }
        guard FileManager.default.createFile(atPath: copy, contents: data) else {
            throw .store("cannot write \(copy)")
        }
        do {
            try ZipArchive.unpack(archive: copy, into: staging)
        } catch {
            throw .store(
                "cannot unpack the code package \(package) of \(what): \(error.problem)"
                    + (error.entry.map { " (entry \($0))" } ?? ""))
        }
        if rename(staging, target) != 0 {
            // Another caller unpacked the same package first; theirs is identical.
            guard errno == EEXIST || errno == ENOTEMPTY else {
                throw .store("cannot move \(staging) to \(target) (errno \(errno))")
            }
        }
        FileStore.syncDirectory(of: target)
        return target
    }
}
