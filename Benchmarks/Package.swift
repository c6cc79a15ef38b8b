// swift-tools-version:6.0
//
// JobKit's benchmarks, a package of their own so that the root package's `swift build` and
// `swift test` never build them or their dependencies. Build from the repository root with
//
//     swift build -c release --package-path Benchmarks
//
// See README.md beside this file for the workloads and the figures.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "jobkit-benchmarks",
    // The root package asks for macOS 15; a dependent package must ask for at least as much.
    platforms: [.macOS(.v15)],
    products: [
        // Workloads A, B, C, S of BENCHMARKS.md against JobKit; see README.md.
        .executable(name: "jobkit-bench", targets: ["jobkit-bench"]),
    ],
    dependencies: [
        // Products used: LibPQ and EmbeddedPostgres (libpq-bench); JobKit and LibPQ (jobkit-bench).
        .package(name: "jobkit", path: ".."),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        // jobkit-bench --observability: stand-in metrics and tracing backends.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
    ],
    targets: [
        .executableTarget(
            name: "libpq-bench",
            dependencies: [
                .product(name: "LibPQ", package: "jobkit"),
                .product(name: "EmbeddedPostgres", package: "jobkit"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "jobkit-bench",
            dependencies: [
                .product(name: "JobKit", package: "jobkit"),
                .product(name: "LibPQ", package: "jobkit"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
