// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Breakwater",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "breakwater", targets: ["breakwater"]),
        .library(name: "RedisClient", targets: ["RedisClient"]),
        .library(name: "BreakerCore", targets: ["BreakerCore"]),
        .library(name: "BreakerSchema", targets: ["BreakerSchema"]),
        .library(name: "SharedBreaker", targets: ["SharedBreaker"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // C boundary: hiredis (linked) and OpenSSL headers (libssl is loaded on first TLS use), and the inline helpers Swift cannot express.
        .systemLibrary(
            name: "CHiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev", "libssl-dev"])]
        ),
        // The only module that imports CHiredis; all unsafe code lives here.
        .target(
            name: "RedisClient",
            dependencies: [
                "CHiredis",
                "SafeNumbers",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Overflow-safe conversions for outside numbers (one helper, used everywhere).
        .target(name: "SafeNumbers"),
        // Pure circuit-breaker state machine: no I/O, no clock reads.
        .target(name: "BreakerCore", dependencies: ["SafeNumbers"]),
        // The shared-state contract: every key, the stored fields, the scripts (Lua/*.lua with one
        // prelude) with their typed operations, arguments and replies, the policy encoding, the
        // instance-id rule and the one view of a stored breaker.
        .target(
            name: "BreakerSchema",
            dependencies: ["BreakerCore", "RedisClient", "SafeNumbers"],
            plugins: ["EmbedText"]
        ),
        // Redis-backed shared breaker: admission, outcome batching, the local view kept in sync.
        .target(
            name: "SharedBreaker",
            dependencies: [
                "SafeNumbers",
                "RedisClient",
                "BreakerCore",
                "BreakerSchema",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // Build-time embedding of .lua and .html files as Swift string constants (no runtime bundle).
        .executableTarget(name: "embed-text"),
        .plugin(name: "EmbedText", capability: .buildTool(), dependencies: ["embed-text"]),
        // YAML config: parsing and validation with field paths.
        .target(
            name: "BreakwaterConfig",
            dependencies: [
                "SafeNumbers",
                "BreakerCore",
                "BreakerSchema",
                "Collectors",
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // Upstream sources (Moralis, Glassnode, Twitter, Reddit, LunarCrush, http_json).
        .target(
            name: "Collectors",
            dependencies: [
                "SafeNumbers",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Fleet-coordinated collection: slot claims, shared rate limits and cursors in Redis.
        .target(
            name: "FleetCollection",
            dependencies: ["BreakerSchema", "RedisClient", "SafeNumbers"]
        ),
        // The daemon: service group, HTTP endpoints, metrics export.
        .target(
            name: "BreakwaterDaemon",
            dependencies: [
                "Collectors",
                "SharedBreaker",
                "BreakerSchema",
                "BreakerCore",
                "FleetCollection",
                "BreakwaterConfig",
                "RedisClient",
                "SafeNumbers",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            plugins: ["EmbedText"]
        ),
        // The CLI; the only place that bootstraps logging and metrics.
        .executableTarget(
            name: "breakwater",
            dependencies: [
                "BreakwaterDaemon",
                "BreakwaterConfig",
                "BreakerCore",
                "BreakerSchema",
                "SharedBreaker",
                "FleetCollection",
                "RedisClient",
                "SafeNumbers",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // Micro-benchmarks that print figures (not tests).
        .executableTarget(
            name: "breakwater-bench",
            dependencies: ["RedisClient", "BreakerCore", "BreakerSchema", "SharedBreaker", "SafeNumbers", .product(name: "Logging", package: "swift-log")]
        ),
        // README's "Using the library" example: compiled with everything, run by a test.
        .executableTarget(
            name: "library-example",
            dependencies: ["SharedBreaker", "BreakerCore", "RedisClient"],
            path: "Examples/library-example"
        ),
        // A small process spawned by multi-process tests.
        .executableTarget(
            name: "breakwater-node",
            dependencies: ["SharedBreaker", "BreakerSchema", "BreakerCore", "RedisClient", .product(name: "Logging", package: "swift-log")]
        ),
        // scripts/chaos scenario 7: the shared breaker's script against a reference model.
        .executableTarget(
            name: "breakwater-modelcheck",
            dependencies: ["SharedBreaker", "BreakerSchema", "FleetCollection", "RedisClient", "BreakerCore", "SafeNumbers", .product(name: "Logging", package: "swift-log")]
        ),
        // Test helpers: throwaway redis-server processes, unique key prefixes.
        .target(name: "BreakwaterTestSupport", dependencies: ["RedisClient"], path: "Tests/Support"),
        .testTarget(name: "RedisClientTests", dependencies: ["RedisClient", "SafeNumbers", "BreakwaterTestSupport"]),
        .testTarget(name: "BreakerCoreTests", dependencies: ["BreakerCore", "SafeNumbers"]),
        .testTarget(name: "SharedBreakerTests", dependencies: ["SharedBreaker", "BreakerSchema", "SafeNumbers", "RedisClient", "BreakerCore", "BreakwaterTestSupport"]),
        .testTarget(name: "BreakwaterConfigTests", dependencies: ["BreakwaterConfig", "BreakerCore", "BreakerSchema", "Collectors"]),
        .testTarget(name: "CollectorsTests", dependencies: ["Collectors", "SafeNumbers", "BreakwaterTestSupport", .product(name: "AsyncHTTPClient", package: "async-http-client"), .product(name: "Logging", package: "swift-log")], exclude: ["Fixtures"]),
        .testTarget(name: "FleetCollectionTests", dependencies: ["FleetCollection", "RedisClient", "BreakwaterTestSupport"]),
        .testTarget(name: "BreakwaterCLITests", dependencies: ["RedisClient", "BreakwaterTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)

// Every Swift target: existentials spelled `any`, and members visible only from modules a file imports.
for target in package.targets where target.type != .system && target.type != .plugin {
    target.swiftSettings = (target.swiftSettings ?? []) + [
        .enableUpcomingFeature("ExistentialAny"),
        .enableUpcomingFeature("MemberImportVisibility"),
    ]
}
