// swift-tools-version:6.1
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "albatross",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "albatross", targets: ["albatross"]),
        // For bench/micro and bench/fuzz (separate packages that depend on this one by path).
        .library(name: "ALBEvents", targets: ["ALBEvents"]),
        .library(name: "Routing", targets: ["Routing"]),
        .library(name: "CodeStore", targets: ["CodeStore"]),
        .library(name: "Configuration", targets: ["Configuration"]),
        .library(name: "Environments", targets: ["Environments"]),
        .library(name: "InvocationModel", targets: ["InvocationModel"]),
        .library(name: "LoadBalancer", targets: ["LoadBalancer"]),
        .library(name: "Tracing", targets: ["Tracing"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // Lock-free snapshots (the invoker's catalog, the event bus's subscribers); SwiftNIO depends on it already.
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // swift-prometheus brings swift-metrics (2.13.0 or newer) with it; no target uses its global bootstrap.
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // HDR histograms for `albatross bench`: fixed relative precision over a wide range (microseconds to
        // minutes) in bounded memory, mergeable and serialisable, which latency percentiles need.
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        // System OpenSSL (3.0 or newer), linked through pkg-config.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        // System zlib, for reading .zip code packages.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // Code packages: unpacking .zip archives safely.
        .target(name: "CodeStore", dependencies: ["CZlib"], swiftSettings: strictSettings),
        // Container images (OCI layouts, `docker save` tarballs): reading, verifying and unpacking them safely
        // into a content-addressed rootfs. A module of its own: it needs SHA-256 (OpenSSL) and tar, which code
        // packages do not, and nothing in it decides how an image runs.
        .target(name: "Images", dependencies: ["CZlib", "AlbatrossCrypto"], swiftSettings: strictSettings),
        // Process spawning helpers glibc does not export to Swift (posix_spawn chdir/closefrom).
        .target(name: "CAlbatrossSupport"),
        .target(name: "CBenchSupport"),
        .target(
            name: "AlbatrossTLS",
            dependencies: [
                "COpenSSL",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // Pure translation between HTTP and ALB Lambda events.
        .target(
            name: "ALBEvents",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strictSettings
        ),
        // Functions, versions, names, ARNs.
        .target(name: "LambdaModel", swiftSettings: strictSettings),
        // Functions, versions and aliases stored in SQLite; code packages addressed by SHA-256.
        .target(
            name: "AlbatrossCrypto",
            dependencies: ["COpenSSL"],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Registry",
            dependencies: [
                "LambdaModel", "CodeStore", "COpenSSL", "AlbatrossCrypto",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strictSettings
        ),
        // Listener rules and target-group selection; pure.
        .target(name: "Routing", dependencies: ["LambdaModel"], swiftSettings: strictSettings),
        // YAML configuration → typed values, validated at load.
        .target(
            name: "Configuration",
            dependencies: ["LambdaModel", "Routing", .product(name: "Yams", package: "Yams")],
            swiftSettings: strictSettings
        ),
        // The invocation vocabulary shared by the front end, the invoker and the environments: requests,
        // outcomes, errors, the invocation event stream and the InvocationService seam.
        .target(
            name: "InvocationModel",
            dependencies: [
                "LambdaModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            swiftSettings: strictSettings
        ),
        // Subscribers of the event stream: CloudWatch-style logs and Prometheus metrics (later traces).
        .target(
            name: "Observability",
            dependencies: [
                "LambdaModel", "InvocationModel", "CZlib",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSettings
        ),
        // X-Ray: the platform's segments from the event stream, the embedded daemon (UDP), the trace store and
        // the waterfall.
        .target(
            name: "Tracing",
            dependencies: [
                "ALBEvents", "InvocationModel", "LambdaModel", "CZlib",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            swiftSettings: strictSettings
        ),
        // The admin listener: `GET /metrics` on its own address, never on an ALB listener.
        .target(
            name: "AdminServer",
            dependencies: [
                "Observability", "InvocationModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // Asynchronous invocation: the durable event queue, its retry state machine, destinations, the outbox.
        .target(
            name: "AsyncInvocation",
            dependencies: [
                "LambdaModel", "InvocationModel",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // The Lambda control API listener (boto3 / AWS CLI): routing, SigV4, the operations over the registry.
        .target(
            name: "ControlAPI",
            dependencies: [
                "COpenSSL", "AlbatrossCrypto", "AlbatrossTLS", "Registry", "LambdaModel", "InvocationModel", "AsyncInvocation",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Environments",
            dependencies: [
                "LambdaModel", "InvocationModel", "ALBEvents", "CAlbatrossSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Invocation",
            dependencies: [
                "LambdaModel", "InvocationModel", "Environments", "CodeStore", "Images", "Routing",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "LoadBalancer",
            dependencies: [
                "AlbatrossTLS", "AlbatrossCrypto", "ALBEvents", "Routing", "InvocationModel", "LambdaModel",
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // Applying a configuration to the store, and building the invoker's catalog from it.
        .target(
            name: "Deployment",
            dependencies: ["Configuration", "Registry", "Invocation", "LambdaModel", "Routing"],
            swiftSettings: strictSettings
        ),
        // Deployments of an alias to a new version: CodeDeploy's configurations, alarms, hooks, rollback (pure
        // plans and state machine), and the runner that executes them against the registry and the invoker.
        .target(
            name: "Rollout",
            // Bench for its SVG primitives (the report's charts).
            dependencies: [
                "Bench", "InvocationModel", "LambdaModel", "Registry",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The one composition root (configuration → store → invoker → listeners) and its services.
        .target(
            name: "AlbatrossApp",
            dependencies: [
                "AdminServer", "AlbatrossTLS", "AsyncInvocation", "Configuration", "ControlAPI", "Deployment",
                "Environments", "Invocation", "InvocationModel", "LambdaModel", "LoadBalancer", "Observability", "Registry",
                "Rollout", "Routing", "Tracing",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // `albatross bench`'s pure parts: samples → phases, statistics and significance tests, the report model, its
        // JSON, and the SVG/HTML charts.
        .target(
            name: "Bench",
            // Routing for its SplitMix64 (seeded bootstrap intervals); CBenchSupport for epoll (its HTTP client).
            dependencies: [
                "CBenchSupport", "Routing", .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "albatross",
            dependencies: [
                "AlbatrossApp", "Bench", "Environments", "AlbatrossTLS", "Configuration", "Deployment", "Invocation",
                "InvocationModel", "LambdaModel", "Registry", "Rollout", "Tracing",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "AlbatrossTestKit",
            dependencies: [
                "AlbatrossApp", "Configuration", "Invocation", "InvocationModel", "LambdaModel", "LoadBalancer",
                "Observability", "Registry",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ALBEventsTests", dependencies: ["ALBEvents", .product(name: "NIOCore", package: "swift-nio")]),
        .testTarget(name: "CodeStoreTests", dependencies: ["CodeStore", "AlbatrossTestKit"]),
        .testTarget(name: "ImagesTests", dependencies: ["Images", "AlbatrossTestKit"]),
        .testTarget(name: "RoutingTests", dependencies: ["Routing", "LambdaModel"]),
        .testTarget(
            name: "AsyncInvocationTests", dependencies: ["AsyncInvocation", "LambdaModel", "AlbatrossTestKit"]),
        .testTarget(
            name: "RegistryTests", dependencies: ["Registry", "CodeStore", "LambdaModel", "AlbatrossTestKit"]),
        .testTarget(
            name: "ConfigurationTests", dependencies: ["Configuration", "LambdaModel", "Routing", "AlbatrossTestKit"]),
        .testTarget(
            name: "AlbatrossTLSTests",
            dependencies: [
                "AlbatrossTLS", "AlbatrossTestKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "EnvironmentsTests",
            dependencies: [
                "Environments", "Invocation", "InvocationModel", "LambdaModel", "AlbatrossTestKit", "Configuration",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "LoadBalancerTests",
            dependencies: [
                "LoadBalancer", "Invocation", "InvocationModel", "Routing", "AlbatrossTLS", "AlbatrossTestKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "InvocationTests",
            dependencies: [
                "Invocation", "InvocationModel", "LambdaModel", "AlbatrossTestKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "LambdaModelTests", dependencies: ["LambdaModel"]),
        .testTarget(
            name: "BenchTests",
            dependencies: [
                "Bench", "AlbatrossTestKit", "AdminServer", "InvocationModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "RolloutTests", dependencies: ["Rollout"]),
        .testTarget(
            name: "ControlAPITests",
            dependencies: [
                "ControlAPI", "Registry", "LambdaModel", "InvocationModel", "AlbatrossTestKit", "CodeStore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "ObservabilityTests",
            dependencies: [
                "Observability", "InvocationModel", "LambdaModel", "AlbatrossTestKit",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "TracingTests",
            dependencies: [
                "Tracing", "InvocationModel", "LambdaModel", "AlbatrossTestKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "DeploymentTests",
            dependencies: ["Deployment", "Configuration", "Registry", "Invocation", "LambdaModel", "AlbatrossTestKit"]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "AlbatrossTestKit", "Configuration", "AlbatrossTLS", "LambdaModel", "Registry", "Observability",
                "AdminServer", "InvocationModel", "Rollout", "Tracing", "Routing", "Environments",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
