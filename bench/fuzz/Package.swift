// swift-tools-version:6.1
// libFuzzer targets for every parser a peer can reach (see bench/fuzz/README.md and docs/fuzzing.md).
//
// A separate package so that `swift build` / `swift test` of the root package never build it; it reaches the code
// under test through the root package's library products, by path. Each target's `main.swift` hands control to
// libFuzzer's driver with the target's test function (also exported as `LLVMFuzzerTestOneInput`). Build only
// through `run.sh`, which passes `-sanitize=fuzzer,address -enable-testing` to every Swift module.
import PackageDescription

let package = Package(
    name: "albatross-fuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "albatross", path: "../.."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .target(name: "FuzzDriver"),
        .executableTarget(
            name: "FuzzRequestHead",
            dependencies: [
                "FuzzDriver",
                .product(name: "ALBEvents", package: "albatross"),
                .product(name: "LoadBalancer", package: "albatross"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "FuzzResultDecoder",
            dependencies: [
                "FuzzDriver",
                .product(name: "ALBEvents", package: "albatross"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "FuzzJSONParser",
            dependencies: [
                "FuzzDriver",
                .product(name: "ALBEvents", package: "albatross"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "FuzzRuntimeAPI",
            dependencies: [
                "FuzzDriver",
                .product(name: "Environments", package: "albatross"),
                .product(name: "InvocationModel", package: "albatross"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "FuzzConfiguration",
            dependencies: [
                "FuzzDriver", .product(name: "Configuration", package: "albatross"),
            ]
        ),
        .executableTarget(
            name: "FuzzOTLP",
            dependencies: [
                "FuzzDriver", .product(name: "Tracing", package: "albatross"),
            ]
        ),
        .executableTarget(
            name: "FuzzZipArchive",
            dependencies: [
                "FuzzDriver", .product(name: "CodeStore", package: "albatross"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
