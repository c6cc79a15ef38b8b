import Foundation

/// Where the PostgreSQL server programs live.
struct PostgresBinaries: Sendable {
    /// The folder holding `initdb`, `pg_ctl` and `postgres`.
    var directory: String

    var initdb: String {
        self.directory + "/initdb"
    }

    var pgCtl: String {
        self.directory + "/pg_ctl"
    }

    /// Whether a folder holds the server programs (not only client wrappers, as Debian's
    /// `/usr/bin` does).
    ///
    /// - Parameters:
    ///   - directory: The folder.
    /// - Returns: `true` when `initdb` and `pg_ctl` are executable there.
    static func isComplete(_ directory: String) -> Bool {
        let fileManager = FileManager.default
        return fileManager.isExecutableFile(atPath: directory + "/initdb")
            && fileManager.isExecutableFile(atPath: directory + "/pg_ctl")
    }

    /// Finds the server programs.
    ///
    /// - Parameters:
    ///   - configured: A folder to use; `nil` searches `pg_config --bindir`, then
    ///     `/usr/lib/postgresql/*/bin` from the highest version down, then `PATH`.
    ///   - scratchFolder: A folder for `pg_config`'s output.
    /// - Returns: The binaries.
    /// - Throws: ``EmbeddedPostgresError/Code/binariesNotFound``, saying where it looked and how
    ///   to install them.
    static func locate(configured: String?, scratchFolder: String) async throws -> PostgresBinaries {
        if let configured {
            guard Self.isComplete(configured) else {
                throw EmbeddedPostgresError.binariesNotFound(searched: [configured])
            }
            return PostgresBinaries(directory: configured)
        }

        var searched: [String] = []
        if let bindir = await Self.pgConfigBinDirectory(scratchFolder: scratchFolder) {
            if Self.isComplete(bindir) {
                return PostgresBinaries(directory: bindir)
            }
            searched.append(bindir)
        }
        for directory in Self.debianDirectories() + Self.pathDirectories() where !searched.contains(directory) {
            if Self.isComplete(directory) {
                return PostgresBinaries(directory: directory)
            }
            searched.append(directory)
        }
        throw EmbeddedPostgresError.binariesNotFound(searched: searched)
    }

    // MARK: Search

    /// What `pg_config --bindir` prints, if `pg_config` is on `PATH` and succeeds.
    private static func pgConfigBinDirectory(scratchFolder: String) async -> String? {
        guard let pgConfig = Self.pathDirectories().map({ $0 + "/pg_config" }).first(where: {
            FileManager.default.isExecutableFile(atPath: $0)
        }) else {
            return nil
        }
        let outputPath = scratchFolder + "/pg_config.out"
        guard let termination = try? await ChildProcess.run(pgConfig, ["--bindir"], outputPath: outputPath),
            termination.isSuccess
        else {
            return nil
        }
        let bindir = OutputFile.tail(of: outputPath)
        return bindir.isEmpty ? nil : bindir
    }

    /// `/usr/lib/postgresql/<version>/bin`, highest version first.
    private static func debianDirectories() -> [String] {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        let numbered = versions.map { version in
            (version, version.split(separator: ".").map { Int($0) ?? 0 })
        }
        return numbered.sorted { $0.1.lexicographicallyPrecedes($1.1) }.reversed().map { "\(root)/\($0.0)/bin" }
    }

    /// The folders on `PATH`, in order.
    private static func pathDirectories() -> [String] {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map(String.init).filter { !$0.isEmpty }
    }
}
