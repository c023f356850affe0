// libFuzzer target: the configuration loader, YAML text → validated AlbatrossConfiguration (Yams, then every
// check of Sources/Configuration). It runs off the filesystem except for the checks that paths exist: relative
// paths resolve against `ALBATROSS_FUZZ_CONFIG_BASE`, a directory the run script fills with the function code
// and certificate files the example and the tests refer to. Inputs that are not UTF-8 are refused as the loader
// refuses such a file.
//
// Checks beyond "does not crash": a refusal names the file it was given.
import Configuration
import Foundation

private let base = ProcessInfo.processInfo.environment["ALBATROSS_FUZZ_CONFIG_BASE"] ?? "/nonexistent"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfiguration(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    guard let yaml = String(validating: UnsafeRawBufferPointer(start: data, count: size), as: UTF8.self) else {
        return 0
    }
    do {
        _ = try ConfigurationLoader.parse(yaml: yaml, file: "fuzz.yaml", baseDirectory: base)
    } catch {
        check(error.file == "fuzz.yaml", "error names \(error.file)")
    }
    return 0
}

/// `precondition` with its message kept in release builds (libFuzzer's log then says what went wrong).
private func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}
