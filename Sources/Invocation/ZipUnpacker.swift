import CodeStore
import Foundation

/// Unpacks a function's .zip package into `<data>/code/<function>/`, replacing what a previous start left there.
enum ZipUnpacker {
    static func unpack(archive: String, functionName: String, dataDirectory: String) throws -> String {
        let root = "\(dataDirectory)/code/\(functionName)"
        let staging = "\(root).unpacking-\(getpid())"
        let fileManager = FileManager.default
        try? fileManager.removeItem(atPath: staging)
        do {
            try ZipArchive.unpack(archive: archive, into: staging)
        } catch {
            try? fileManager.removeItem(atPath: staging)
            throw CodePreparer.PreparationError(description: "function \(functionName): \(error)")
        }
        try? fileManager.removeItem(atPath: root)
        guard rename(staging, root) == 0 else {
            throw CodePreparer.PreparationError(
                description: "function \(functionName): cannot move the unpacked package to \(root) (errno \(errno))")
        }
        return root
    }
}
