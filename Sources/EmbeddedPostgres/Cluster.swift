import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One throwaway cluster's folder and the tool runs that act on it.
///
/// Layout of ``folder`` (mode 0755, owned by the server's account):
/// `data/` (the cluster, 0700), `server.log`, one `<tool>.out` per tool, the unix socket
/// `.s.PGSQL.<port>`, and a `watchdog-<pid>.pid` per watchdog.
struct Cluster: Sendable {
    /// How to stop the server: `fast` disconnects clients and checkpoints; `immediate` aborts.
    enum StopMode: String, Sendable {
        case fast
        case immediate
    }

    let folder: String
    let binaries: PostgresBinaries
    let account: ServerAccount
    var port: Int
    let configuration: EmbeddedPostgres.Configuration
    let logger: Logger

    var dataDirectory: String {
        self.folder + "/data"
    }

    var serverLogPath: String {
        self.folder + "/server.log"
    }

    /// Whether the server's pid file exists: the server runs or did not stop cleanly.
    var hasPostmasterPID: Bool {
        FileManager.default.fileExists(atPath: self.dataDirectory + "/postmaster.pid")
    }

    // MARK: Folder

    /// Creates a new, unique folder that the server's account may traverse and write.
    ///
    /// - Parameters:
    ///   - account: The server's account; the folder is given to it.
    /// - Returns: The folder's path.
    /// - Throws: ``EmbeddedPostgresError/Code/processFailed`` if it cannot be created.
    static func makeFolder(for account: ServerAccount) throws -> String {
        // As root, TMPDIR may be under /root, which the `postgres` account cannot traverse.
        let parent = account.switchUser == nil ? NSTemporaryDirectory() : "/tmp"
        let trimmed = parent.hasSuffix("/") ? String(parent.dropLast()) : parent
        var template = Array("\(trimmed)/jobkit-pg.XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { buffer -> Bool in
            guard let base = buffer.baseAddress else {
                return false
            }
            return mkdtemp(base) != nil
        }
        let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard created else {
            let reason = String(cString: strerror(errno))
            throw EmbeddedPostgresError.processFailed("could not create a folder under \(trimmed): \(reason)")
        }
        do {
            guard chmod(path, 0o755) == 0 else {
                let reason = String(cString: strerror(errno))
                throw EmbeddedPostgresError.processFailed("could not make \(path) traversable: \(reason)")
            }
            try account.takeOwnership(of: path)
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
        return path
    }

    /// Removes the folder; a folder already gone is fine.
    ///
    /// - Throws: ``EmbeddedPostgresError/Code/stopFailed`` if it remains.
    func removeFolder() throws {
        guard FileManager.default.fileExists(atPath: self.folder) else {
            return
        }
        do {
            try FileManager.default.removeItem(atPath: self.folder)
        } catch {
            throw EmbeddedPostgresError.stopFailed("could not remove \(self.folder): \(error)")
        }
        self.logger.debug("Embedded PostgreSQL cluster removed", metadata: ["jobkit.embedded-postgres.folder": "\(self.folder)"])
    }

    // MARK: Server

    /// Creates the cluster with `initdb`: trust authentication, superuser `postgres`, UTF8, C locale.
    ///
    /// - Throws: ``EmbeddedPostgresError/Code/initdbFailed`` with initdb's output.
    func initialize() async throws {
        let arguments = [
            "-D", self.dataDirectory,
            "--auth=trust", "-U", "postgres", "--encoding=UTF8", "--locale=C",
            // The cluster is thrown away with the folder: flushing initdb's files is wasted time.
            "--no-sync",
        ]
        let (termination, output) = try await self.runTool(self.binaries.initdb, arguments, outputName: "initdb.out")
        guard termination.isSuccess else {
            throw EmbeddedPostgresError.initdbFailed(
                "initdb failed with \(termination) creating \(self.dataDirectory)."
                    + Self.section("initdb output", output)
            )
        }
        self.logger.debug(
            "Embedded PostgreSQL cluster initialized",
            metadata: [
                "jobkit.embedded-postgres.data-directory": "\(self.dataDirectory)",
                "jobkit.embedded-postgres.bin-directory": "\(self.binaries.directory)",
            ]
        )
    }

    /// Starts the server with `pg_ctl start -w` and checks that the port accepts connections.
    ///
    /// - Throws: ``EmbeddedPostgresError/Code/startFailed`` with pg_ctl's output and this
    ///   start's part of the server log.
    func startServer() async throws {
        let logOffset = OutputFile.size(of: self.serverLogPath)
        let arguments = [
            "start", "-D", self.dataDirectory, "-l", self.serverLogPath,
            "-w", "-t", "\(self.configuration.startTimeout.wholeSecondsRoundedUp)",
            "-o", self.serverOptions,
        ]
        let (termination, output) = try await self.runTool(self.binaries.pgCtl, arguments, outputName: "pg_ctl.out")
        guard termination.isSuccess else {
            throw EmbeddedPostgresError.startFailed(
                "pg_ctl start failed with \(termination) for the server on port \(self.port)."
                    + Self.section("pg_ctl output", output)
                    + Self.section("server log", self.serverLog(since: logOffset))
            )
        }
        // pg_ctl -w returns once the server reports itself ready; confirm over TCP.
        guard LoopbackPort.acceptsConnections(self.port) else {
            throw EmbeddedPostgresError.startFailed(
                "the server reported ready but 127.0.0.1:\(self.port) refuses connections."
                    + Self.section("server log", self.serverLog(since: logOffset))
            )
        }
        self.logger.debug(
            "Embedded PostgreSQL server started",
            metadata: [
                "jobkit.embedded-postgres.port": "\(self.port)",
                "jobkit.embedded-postgres.data-directory": "\(self.dataDirectory)",
            ]
        )
    }

    /// Stops the server with `pg_ctl stop -w`, keeping the data.
    ///
    /// - Parameters:
    ///   - mode: `fast` for a clean stop, `immediate` to abort.
    /// - Throws: ``EmbeddedPostgresError/Code/stopFailed`` with pg_ctl's output and the server log.
    func stopServer(mode: StopMode) async throws {
        let logOffset = OutputFile.size(of: self.serverLogPath)
        let arguments = [
            "stop", "-D", self.dataDirectory, "-m", mode.rawValue,
            "-w", "-t", "\(self.configuration.startTimeout.wholeSecondsRoundedUp)",
        ]
        let (termination, output) = try await self.runTool(self.binaries.pgCtl, arguments, outputName: "pg_ctl.out")
        guard termination.isSuccess else {
            throw EmbeddedPostgresError.stopFailed(
                "pg_ctl stop -m \(mode.rawValue) failed with \(termination) for the server on port \(self.port)."
                    + Self.section("pg_ctl output", output)
                    + Self.section("server log", self.serverLog(since: logOffset))
            )
        }
        self.logger.debug(
            "Embedded PostgreSQL server stopped",
            metadata: ["jobkit.embedded-postgres.port": "\(self.port)", "jobkit.embedded-postgres.stop-mode": "\(mode.rawValue)"]
        )
    }

    /// The server log written since `offset`, or its last 4 KiB.
    ///
    /// - Parameters:
    ///   - offset: A size of the log taken earlier.
    /// - Returns: The text.
    func serverLog(since offset: UInt64) -> String {
        OutputFile.tail(of: self.serverLogPath, from: offset)
    }

    /// Best-effort removal after a failed start, or when ending: aborts the server, ends the
    /// watchdogs, removes the folder. Failures are logged, not thrown.
    func discard() async {
        if self.hasPostmasterPID {
            do {
                try await self.stopServer(mode: .immediate)
            } catch {
                self.logger.info(
                    "Embedded PostgreSQL server could not be stopped",
                    metadata: ["jobkit.embedded-postgres.folder": "\(self.folder)", "jobkit.embedded-postgres.error": "\(error)"]
                )
            }
        }
        Watchdog.stopAll(in: self.folder)
        do {
            try self.removeFolder()
        } catch {
            self.logger.info(
                "Embedded PostgreSQL folder could not be removed",
                metadata: ["jobkit.embedded-postgres.folder": "\(self.folder)", "jobkit.embedded-postgres.error": "\(error)"]
            )
        }
    }

    // MARK: Helpers

    /// The `pg_ctl -o` string: each setting as `-c 'name=value'`, quoted for the shell that
    /// pg_ctl starts the server through. The managed settings come last, so they win.
    var serverOptions: String {
        let managed: [(String, String)] = [
            ("listen_addresses", "127.0.0.1"),
            ("port", "\(self.port)"),
            ("unix_socket_directories", self.folder),
            ("max_connections", "\(self.configuration.maxConnections)"),
        ]
        let extra = self.configuration.settings.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return (extra + managed).map { "-c " + Self.shellQuoted("\($0.0)=\($0.1)") }.joined(separator: " ")
    }

    /// Runs a PostgreSQL tool as the server's account, in the folder, capturing its output.
    private func runTool(
        _ tool: String,
        _ arguments: [String],
        outputName: String
    ) async throws -> (ChildProcess.Termination, String) {
        let (executable, fullArguments) = self.account.commandLine(tool, arguments)
        let outputPath = self.folder + "/" + outputName
        self.logger.trace(
            "Running PostgreSQL tool",
            metadata: ["jobkit.embedded-postgres.command": "\(([executable] + fullArguments).joined(separator: " "))"]
        )
        let termination = try await ChildProcess.run(
            executable,
            fullArguments,
            workingDirectory: self.folder,
            outputPath: outputPath
        )
        return (termination, OutputFile.tail(of: outputPath))
    }

    private static func shellQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }

    private static func section(_ title: String, _ text: String) -> String {
        text.isEmpty ? "" : "\n--- \(title) (last lines) ---\n\(text)"
    }
}
