// swift-tools-version:6.0
//
// A runnable example of JobKit: an async function run as a tracked job with `runAsJob` (and the
// `tracked` decorator form), with progress, cancelled from another process by the jobkit CLI.
// Run it from this folder with `swift run`; see README.md.
import PackageDescription

let package = Package(
    name: "RunAsJob",
    // JobKit asks for macOS 15; a dependent package must ask for at least as much.
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "jobkit", path: "../.."),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        .executableTarget(
            name: "RunAsJob",
            dependencies: [
                .product(name: "JobKit", package: "jobkit"),
                .product(name: "LibPQ", package: "jobkit"),
                .product(name: "EmbeddedPostgres", package: "jobkit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
