// swift-tools-version:6.1
// Micro-benchmarks of Albatross's request hot path (event encoding, result decoding, listener routing).
//
// A separate package so that `swift build` / `swift test` of the root package never build it or its
// dependencies; it reaches the code under test through the root package's library products, by path.
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "albatross-micro-bench",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "albatross", path: "../.."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // Only the MallocInterposer trait: the default RuntimeInterposer trait would need
        // ordo-one/swift-runtime-interposer, which is not available on this machine.
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // The fixtures and the measured operations, shared by the two executables below.
        .target(
            name: "HotPathFixtures",
            dependencies: [
                .product(name: "ALBEvents", package: "albatross"),
                .product(name: "Routing", package: "albatross"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The package-benchmark suite: `swift package benchmark`.
        .executableTarget(
            name: "HotPath",
            dependencies: ["HotPathFixtures", .product(name: "Benchmark", package: "benchmark")],
            path: "Benchmarks/HotPath",
            swiftSettings: strictSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // A plain loop over one operation, for instruction counts under callgrind (`run.sh --instructions`).
        .executableTarget(name: "HotPathCount", dependencies: ["HotPathFixtures"], swiftSettings: strictSettings),
    ],
    swiftLanguageModes: [.v6]
)
