import EmbeddedPostgres
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// These tests run the real PostgreSQL binaries. Without them, `EmbeddedPostgres.start` throws
/// `binariesNotFound`, whose message says how to install them, and every test fails with it.
@Suite(.timeLimit(.minutes(2)))
struct EmbeddedPostgresTests {
    // MARK: Start

    @Test func startedServerAcceptsTCPConnectionsOnItsPort() async throws {
        try await withCluster { postgres in
            #expect(Loopback.acceptsConnections(postgres.port))
        }
    }

    @Test func urlNamesTheLoopbackAddressAndPort() async throws {
        try await withCluster { postgres in
            #expect(postgres.url == "postgresql://postgres@127.0.0.1:\(postgres.port)/postgres")
            #expect(postgres.url(database: "jobs test") == "postgresql://postgres@127.0.0.1:\(postgres.port)/jobs%20test")
        }
    }

    @Test func pgIsReadyReportsAcceptingConnections() async throws {
        try await withCluster { postgres in
            let (status, output) = try await PgIsReady.run(port: postgres.port)
            #expect(status == 0, "pg_isready said: \(output)")
            #expect(output.contains("accepting connections"))
        }
    }

    @Test func configuredPortIsTheOneListenedOn() async throws {
        let port = try Loopback.freePort()
        try await withCluster(.init(port: port, settings: ["fsync": "off"])) { postgres in
            #expect(postgres.port == port)
            #expect(Loopback.acceptsConnections(port))
        }
    }

    @Test func settingsAndMaxConnectionsReachTheServer() async throws {
        try await withCluster(.init(settings: ["fsync": "off", "application_name": "it's jobkit"], maxConnections: 42)) {
            postgres in
            // postmaster.opts records the command line the server was started with.
            let options = try String(contentsOfFile: postgres.dataDirectory + "/postmaster.opts", encoding: .utf8)
            #expect(options.contains("fsync=off"))
            #expect(options.contains("application_name=it's jobkit"))
            #expect(options.contains("max_connections=42"))
        }
    }

    @Test func twoClustersStartedAtOnceGetTheirOwnPortsAndFolders() async throws {
        async let first = EmbeddedPostgres.start(configuration: Self.testConfiguration)
        async let second = EmbeddedPostgres.start(configuration: Self.testConfiguration)
        let clusters = try await [first, second]
        #expect(clusters[0].port != clusters[1].port)
        #expect(clusters[0].dataDirectory != clusters[1].dataDirectory)
        #expect(Loopback.acceptsConnections(clusters[0].port))
        #expect(Loopback.acceptsConnections(clusters[1].port))
        for cluster in clusters {
            try await cluster.shutdown()
        }
    }

    // MARK: Stop and start

    @Test func stopServerRefusesConnectionsAndKeepsTheData() async throws {
        try await withCluster { postgres in
            try await postgres.stopServer()
            #expect(!Loopback.acceptsConnections(postgres.port))
            #expect(FileManager.default.fileExists(atPath: postgres.dataDirectory + "/PG_VERSION"))
        }
    }

    @Test func startServerAfterStopAcceptsConnectionsAgain() async throws {
        try await withCluster { postgres in
            try await postgres.stopServer()
            try await postgres.startServer()
            #expect(Loopback.acceptsConnections(postgres.port))
            #expect(FileManager.default.fileExists(atPath: postgres.dataDirectory + "/PG_VERSION"))
        }
    }

    @Test func restartKeepsThePortAndAcceptsConnections() async throws {
        try await withCluster { postgres in
            let port = postgres.port
            try await postgres.restart()
            #expect(postgres.port == port)
            #expect(Loopback.acceptsConnections(port))
        }
    }

    // MARK: Shutdown

    @Test func shutdownRemovesTheFolderAndRefusesConnections() async throws {
        let postgres = try await EmbeddedPostgres.start(configuration: Self.testConfiguration)
        let folder = Self.folder(of: postgres)
        try await postgres.shutdown()
        #expect(!FileManager.default.fileExists(atPath: folder))
        #expect(!Loopback.acceptsConnections(postgres.port))
    }

    @Test func shutdownTwiceIsHarmless() async throws {
        let postgres = try await EmbeddedPostgres.start(configuration: Self.testConfiguration)
        try await postgres.shutdown()
        try await postgres.shutdown()
        #expect(!FileManager.default.fileExists(atPath: Self.folder(of: postgres)))
    }

    @Test func shutdownAfterStopServerRemovesTheFolder() async throws {
        let postgres = try await EmbeddedPostgres.start(configuration: Self.testConfiguration)
        try await postgres.stopServer()
        try await postgres.shutdown()
        #expect(!FileManager.default.fileExists(atPath: Self.folder(of: postgres)))
    }

    // MARK: Errors

    @Test func badBinDirectoryThrowsBinariesNotFoundSayingHowToInstall() async throws {
        let missing = "/nonexistent/jobkit/postgresql/bin"
        let error = try await #require(throws: EmbeddedPostgresError.self) {
            _ = try await EmbeddedPostgres.start(configuration: .init(binDirectory: missing))
        }
        #expect(error.code == .binariesNotFound)
        #expect(error.message.contains("apt-get install postgresql"))
        #expect(error.message.contains("DATABASE_URL"))
        #expect(error.message.contains(missing))
    }

    @Test func occupiedConfiguredPortThrowsStartFailedWithTheServerLog() async throws {
        let listener = try Loopback.listeningSocket()
        defer { close(listener.descriptor) }
        let error = try await #require(throws: EmbeddedPostgresError.self) {
            _ = try await EmbeddedPostgres.start(configuration: .init(port: listener.port, settings: ["fsync": "off"]))
        }
        #expect(error.code == .startFailed)
        #expect(error.message.contains("--- server log"), "\(error.message)")
        #expect(error.message.contains("could not bind") || error.message.contains("already in use"), "\(error.message)")
    }

    // MARK: Watchdog

    @Test func watchdogRemovesTheClusterWhenItsOwnerIsKilled() async throws {
        let postgres = try await EmbeddedPostgres.start(configuration: Self.testConfiguration)
        let folder = Self.folder(of: postgres)
        let owner = Process()
        owner.executableURL = URL(fileURLWithPath: "/bin/sleep")
        owner.arguments = ["600"]
        try owner.run()

        try await postgres.launchWatchdog(watching: owner.processIdentifier)
        #expect(kill(owner.processIdentifier, SIGKILL) == 0)

        let removed = try await Self.waitUntil(deadline: .seconds(60)) {
            !FileManager.default.fileExists(atPath: folder)
        }
        #expect(removed, "the watchdog did not remove \(folder)")
        #expect(!Loopback.acceptsConnections(postgres.port))
        // The cluster's own shutdown finds nothing left to do.
        try await postgres.shutdown()
    }

    // MARK: Helpers

    static let testConfiguration = EmbeddedPostgres.Configuration(settings: ["fsync": "off"])

    /// Starts a cluster, runs `body`, and shuts the cluster down whether `body` throws or not.
    private func withCluster(
        _ configuration: EmbeddedPostgres.Configuration = Self.testConfiguration,
        _ body: (EmbeddedPostgres) async throws -> Void
    ) async throws {
        let postgres = try await EmbeddedPostgres.start(configuration: configuration)
        do {
            try await body(postgres)
        } catch {
            try? await postgres.shutdown()
            throw error
        }
        try await postgres.shutdown()
    }

    /// The cluster's own temporary folder: the parent of its data folder.
    static func folder(of postgres: EmbeddedPostgres) -> String {
        URL(fileURLWithPath: postgres.dataDirectory).deletingLastPathComponent().path
    }

    /// Polls `condition` every 50 ms until it holds or `deadline` passes.
    static func waitUntil(deadline: Duration, _ condition: () -> Bool) async throws -> Bool {
        let clock = ContinuousClock()
        let end = clock.now.advanced(by: deadline)
        while clock.now < end {
            if condition() {
                return true
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }
}

// MARK: - Test tools

/// Plain TCP checks on 127.0.0.1, independent of the module under test.
enum Loopback {
    #if canImport(Glibc)
    static let streamType = Int32(SOCK_STREAM.rawValue)
    #else
    static let streamType = SOCK_STREAM
    #endif

    static func address(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        #if canImport(Darwin)
        address.sin_len = UInt8(MemoryLayout<sockaddr_in>.size)
        #endif
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port)).bigEndian
        address.sin_addr = in_addr(s_addr: in_addr_t(0x7F00_0001).bigEndian)
        return address
    }

    static func acceptsConnections(_ port: Int) -> Bool {
        let descriptor = socket(AF_INET, Self.streamType, 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = Self.address(port: port)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return result == 0
    }

    /// A port nothing listens on: bound to port 0, read back, closed.
    static func freePort() throws -> Int {
        let (descriptor, port) = try Self.bindAnyPort()
        close(descriptor)
        return port
    }

    /// A socket listening on a port of its own, keeping that port taken until it is closed.
    static func listeningSocket() throws -> (descriptor: Int32, port: Int) {
        let (descriptor, port) = try Self.bindAnyPort()
        guard listen(descriptor, 1) == 0 else {
            close(descriptor)
            throw POSIXError(.EADDRINUSE)
        }
        return (descriptor, port)
    }

    private static func bindAnyPort() throws -> (descriptor: Int32, port: Int) {
        let descriptor = socket(AF_INET, Self.streamType, 0)
        try #require(descriptor >= 0)
        var address = Self.address(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard bound == 0, named == 0 else {
            close(descriptor)
            throw POSIXError(.EADDRNOTAVAIL)
        }
        return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
    }
}

/// Runs `pg_isready` from the installed PostgreSQL.
enum PgIsReady {
    static func executable() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        let candidates = path.split(separator: ":").map { "\($0)/pg_isready" }
            + versions.map { "/usr/lib/postgresql/\($0)/bin/pg_isready" }
        return try #require(
            candidates.first { FileManager.default.isExecutableFile(atPath: $0) },
            "pg_isready was not found; install PostgreSQL with `apt-get install postgresql`"
        )
    }

    static func run(port: Int) async throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.executable())
        process.arguments = ["-h", "127.0.0.1", "-p", "\(port)"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                continuation.resume(throwing: error)
            }
        }
        // pg_isready has exited and its one line of output sits in the pipe.
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        return (status, String(decoding: data, as: UTF8.self))
    }
}
