// The entry point: libFuzzer's driver, running fuzzOTLP (see FuzzDriver.h for why not libFuzzer's own main).
import FuzzDriver

#if canImport(Glibc)
    import Glibc
#endif

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(
    LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        fuzzOTLP(data.map(UnsafeRawPointer.init) ?? UnsafeRawPointer(bitPattern: 1)!, size)
    })
