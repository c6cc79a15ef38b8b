import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs helper programs without blocking a thread of the cooperative pool.
///
/// Foundation's `Process` is not used: on Linux it learns that a child ended when a socket the
/// child inherits reaches end-of-file, and `pg_ctl start` (whose server inherits it) or
/// `setsid -f` (whose shell does) keep that socket open, so the exit is never reported. Here the
/// child is started with `posix_spawn`, inherits only its standard streams (every other
/// descriptor is closed, as Foundation does), and a dedicated thread, not one of the pool's,
/// blocks in `waitpid` and resumes a checked continuation.
///
/// Output goes to a file rather than a pipe: nothing has to drain it while the program runs.
enum ChildProcess {
    /// How a child process ended.
    struct Termination: Sendable, CustomStringConvertible {
        var status: Int32
        var wasSignalled: Bool

        var isSuccess: Bool {
            !self.wasSignalled && self.status == 0
        }

        var description: String {
            self.wasSignalled ? "signal \(self.status)" : "exit status \(self.status)"
        }

        init(status: Int32, wasSignalled: Bool) {
            self.status = status
            self.wasSignalled = wasSignalled
        }

        /// Decodes a `waitpid` status (the `WIFEXITED`/`WTERMSIG` macros are not imported).
        init(waitStatus: Int32) {
            let signal = waitStatus & 0x7f
            self.wasSignalled = signal != 0
            self.status = signal != 0 ? signal : (waitStatus >> 8) & 0xff
        }
    }

    /// Runs a program to its end.
    ///
    /// - Parameters:
    ///   - executable: The program's absolute path.
    ///   - arguments: Its arguments.
    ///   - workingDirectory: Its working folder; `nil` keeps ours.
    ///   - outputPath: A file that receives its stdout and stderr, created or truncated;
    ///     `nil` discards them.
    /// - Returns: How it ended.
    /// - Throws: ``EmbeddedPostgresError/Code/processFailed`` if it cannot be launched.
    static func run(
        _ executable: String,
        _ arguments: [String],
        workingDirectory: String? = nil,
        outputPath: String? = nil
    ) async throws -> Termination {
        let pid = try Self.spawn(executable, arguments, workingDirectory: workingDirectory, outputPath: outputPath)
        return await withCheckedContinuation { continuation in
            Self.reap(pid) { continuation.resume(returning: $0) }
        }
    }

    /// Launches a program in a process group of its own and does not wait for it; a thread
    /// reaps it when it exits.
    ///
    /// - Parameters:
    ///   - executable: The program's absolute path.
    ///   - arguments: Its arguments.
    /// - Throws: ``EmbeddedPostgresError/Code/processFailed`` if it cannot be launched.
    static func launchDetached(_ executable: String, _ arguments: [String]) throws {
        let pid = try Self.spawn(executable, arguments, ownProcessGroup: true)
        Self.reap(pid) { _ in }
    }

    // MARK: Spawning

    private static func spawn(
        _ executable: String,
        _ arguments: [String],
        workingDirectory: String? = nil,
        outputPath: String? = nil,
        ownProcessGroup: Bool = false
    ) throws -> pid_t {
        var outputDescriptor: Int32 = -1
        if let outputPath {
            outputDescriptor = open(outputPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard outputDescriptor >= 0 else {
                throw EmbeddedPostgresError.processFailed(
                    "could not create \(outputPath) to capture the output of \(executable): \(Self.lastError())"
                )
            }
        }
        // The child has its own copies once it is spawned.
        defer {
            if outputDescriptor >= 0 {
                close(outputDescriptor)
            }
        }

        #if canImport(Darwin)
        var fileActions: posix_spawn_file_actions_t?
        var attributes: posix_spawnattr_t?
        #else
        var fileActions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        #endif
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        posix_spawn_file_actions_addopen(&fileActions, STDIN_FILENO, "/dev/null", O_RDONLY, 0)
        if outputDescriptor >= 0 {
            posix_spawn_file_actions_adddup2(&fileActions, outputDescriptor, STDOUT_FILENO)
            posix_spawn_file_actions_adddup2(&fileActions, outputDescriptor, STDERR_FILENO)
        } else {
            posix_spawn_file_actions_addopen(&fileActions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_addopen(&fileActions, STDERR_FILENO, "/dev/null", O_WRONLY, 0)
        }
        var flags = Int32(0)
        #if canImport(Darwin)
        flags |= Int32(POSIX_SPAWN_CLOEXEC_DEFAULT)
        #else
        // Linux has no POSIX_SPAWN_CLOEXEC_DEFAULT: close what is open now, as Foundation does.
        for descriptor in Self.openDescriptors() where descriptor > STDERR_FILENO {
            posix_spawn_file_actions_addclose(&fileActions, descriptor)
        }
        #endif
        if ownProcessGroup {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        // posix_spawn_file_actions_addchdir_np is not visible from Swift on Linux: a shell
        // changes folder, then becomes the program.
        let commandLine =
            if let workingDirectory {
                ["/bin/sh", "-c", #"cd "$0" && exec "$@""#, workingDirectory, executable] + arguments
            } else {
                [executable] + arguments
            }
        let argv = commandLine.map { strdup($0) }
        let environment = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") }
        defer {
            (argv + environment).forEach { free($0) }
        }
        var pid = pid_t()
        let result = posix_spawn(&pid, commandLine[0], &fileActions, &attributes, argv + [nil], environment + [nil])
        guard result == 0 else {
            throw EmbeddedPostgresError.processFailed("could not launch \(executable): \(String(cString: strerror(result)))")
        }
        return pid
    }

    /// Waits for a child on a thread of its own and hands over how it ended.
    private static func reap(_ pid: pid_t, then body: @escaping @Sendable (Termination) -> Void) {
        let thread = Thread {
            var status: Int32 = 0
            var result: pid_t
            repeat {
                result = waitpid(pid, &status, 0)
            } while result == -1 && errno == EINTR
            // waitpid fails only if something else in this process reaped the child: its
            // outcome is unknown, so report it as the shell's "cannot tell" status, 127.
            body(result == pid ? Termination(waitStatus: status) : Termination(status: 127, wasSignalled: false))
        }
        thread.name = "jobkit.embedded-postgres.waitpid"
        thread.start()
    }

    #if !canImport(Darwin)
    private static func openDescriptors() -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return names.compactMap { Int32($0) }
    }
    #endif

    private static func lastError() -> String {
        String(cString: strerror(errno))
    }
}

// MARK: - Reading output

enum OutputFile {
    /// The last lines of a text file, for error messages.
    ///
    /// - Parameters:
    ///   - path: The file.
    ///   - offset: Where to start reading; earlier content is ignored. Defaults to the start.
    ///   - maxBytes: At most this many bytes from the end are read. Defaults to 4 KiB.
    /// - Returns: The tail, trimmed, or `""` if the file is missing or empty.
    static func tail(of path: String, from offset: UInt64 = 0, maxBytes: UInt64 = 4096) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            return ""
        }
        defer { try? handle.close() }
        guard let size = try? handle.seekToEnd(), size > offset else {
            return ""
        }
        let start = max(offset, size > maxBytes ? size - maxBytes : 0)
        guard (try? handle.seek(toOffset: start)) != nil, let data = try? handle.readToEnd() else {
            return ""
        }
        var text = String(decoding: data, as: UTF8.self)
        if start > offset, let firstNewline = text.firstIndex(of: "\n") {
            // Drop the partial first line.
            text = String(text[text.index(after: firstNewline)...])
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The size of a file, or 0 if it does not exist.
    ///
    /// - Parameters:
    ///   - path: The file.
    /// - Returns: Its size in bytes.
    static func size(of path: String) -> UInt64 {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        return (attributes?[.size] as? NSNumber)?.uint64Value ?? 0
    }
}
