// swift-tools-version:6.0
//
// A runnable example of JobKit in a Vapor 4 app: POST /documents stores a document and enqueues
// its processing in the same transaction, GET /jobs/:id reports the job, and the JobExecutor
// runs with the app's lifecycle (it starts when the app boots and drains when it shuts down).
// Run it from this folder with `swift run`; see README.md.
import PackageDescription

let package = Package(
    name: "VaporApp",
    // JobKit asks for macOS 15; a dependent package must ask for at least as much.
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "jobkit", path: "../.."),
        .package(url: "https://github.com/vapor/vapor.git", from: "4.122.3"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        .executableTarget(
            name: "VaporApp",
            dependencies: [
                .product(name: "JobKit", package: "jobkit"),
                .product(name: "LibPQ", package: "jobkit"),
                .product(name: "EmbeddedPostgres", package: "jobkit"),
                .product(name: "Vapor", package: "vapor"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
