import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs the `jobkit` executable built beside the tests, as a separate process.
enum CLI {
    struct Output: Sendable {
        /// The exit status (or the signal's number, if it was killed).
        var status: Int32
        /// Standard output, then standard error.
        var text: String
        /// What it wrote to standard output.
        var stdout: String = ""
        /// What it wrote to standard error.
        var stderr: String = ""

        /// Standard error's non-empty lines.
        var errorLines: [Substring] { self.stderr.split(separator: "\n") }
    }

    /// The `jobkit` binary in the same build folder as the test bundle.
    static var executable: URL {
        get throws {
            var folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            if folder.lastPathComponent.hasSuffix(".xctest") { folder.deleteLastPathComponent() }
            let binary = folder.appendingPathComponent("jobkit")
            guard FileManager.default.isExecutableFile(atPath: binary.path) else {
                throw CLIError(message: "no jobkit executable at \(binary.path): build it with `swift build` before `swift test`")
            }
            return binary
        }
    }

    struct CLIError: Error, CustomStringConvertible {
        var message: String
        var description: String { self.message }
    }

    /// Runs `jobkit` with `arguments` and waits for it to exit (without blocking a cooperative thread).
    /// - Parameters:
    ///   - arguments: The command line after `jobkit`.
    ///   - environment: Variables to set or override in the child's environment.
    ///   - timeout: How long it may run before it is killed and this throws.
    static func run(_ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(120)) async throws -> Output {
        try await self.start(arguments, environment: environment).waitForExit(timeout: timeout)
    }

    /// Starts `jobkit` with `arguments` and returns at once; follow it with ``Running``.
    static func start(_ arguments: [String], environment: [String: String] = [:]) throws -> Running {
        try Running(arguments: arguments, environment: environment)
    }

    /// A `jobkit` process that is running or has run: its output so far and its exit.
    ///
    /// Standard output and standard error go to temporary files rather than pipes: a pipe's
    /// write end inherited by another child that the test process spawns at the same moment
    /// would hold back its end-of-file for as long as that child runs (a `serve` or `watch` of
    /// another test). The exit arrives through `terminationHandler`, on Foundation's thread.
    final class Running: Sendable {
        /// Set from Foundation's termination callback, read by waiters.
        private final class Shared: Sendable {
            let status = Mutex<Int32?>(nil)
        }

        private let shared = Shared()
        private let stdoutFile: URL
        private let stderrFile: URL
        /// Its process id.
        let pid: Int32
        /// The command line, for messages.
        let commandLine: String
        /// Kept alive while the process runs; never touched after `run()`.
        private let process: Process

        fileprivate init(arguments: [String], environment: [String: String]) throws {
            let process = Process()
            process.executableURL = try CLI.executable
            process.arguments = arguments
            if !environment.isEmpty {
                process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            }
            let name = "jobkit-cli-\(UUID().uuidString.lowercased())"
            self.stdoutFile = FileManager.default.temporaryDirectory.appendingPathComponent("\(name).stdout")
            self.stderrFile = FileManager.default.temporaryDirectory.appendingPathComponent("\(name).stderr")
            for file in [self.stdoutFile, self.stderrFile] {
                guard FileManager.default.createFile(atPath: file.path, contents: nil) else {
                    throw CLIError(message: "cannot create \(file.path)")
                }
            }
            let stdout = try FileHandle(forWritingTo: self.stdoutFile)
            let stderr = try FileHandle(forWritingTo: self.stderrFile)
            defer {
                try? stdout.close()
                try? stderr.close()
            }
            process.standardOutput = stdout
            process.standardError = stderr
            process.standardInput = FileHandle.nullDevice
            let shared = self.shared
            process.terminationHandler = { process in
                shared.status.withLock { $0 = process.terminationStatus }
            }
            self.process = process
            self.commandLine = (["jobkit"] + arguments).joined(separator: " ")
            try process.run()
            self.pid = process.processIdentifier
        }

        deinit {
            try? FileManager.default.removeItem(at: self.stdoutFile)
            try? FileManager.default.removeItem(at: self.stderrFile)
        }

        /// What it wrote to standard output so far.
        var stdout: String { Self.read(self.stdoutFile) }

        /// What it wrote to standard error so far.
        var stderr: String { Self.read(self.stderrFile) }

        private var status: Int32? { self.shared.status.withLock { $0 } }

        /// Returns once standard output contains `text`.
        /// - Throws: ``CLIError`` when the process exits first or `timeout` passes.
        func waitForOutput(containing text: String, timeout: Duration = .seconds(30)) async throws {
            try await self.waitUntil("output containing \"\(text)\"", timeout: timeout) {
                let exited = self.status != nil  // read before the output, which is complete once it exited
                if self.stdout.contains(text) { return true }
                if exited { throw CLIError(message: "\(self.commandLine) exited before printing \"\(text)\":\n\(self.stdout)\(self.stderr)") }
                return false
            }
        }

        /// Returns the process's output once it has exited.
        /// - Throws: ``CLIError`` when `timeout` passes first; the process is killed then.
        func waitForExit(timeout: Duration = .seconds(120)) async throws -> Output {
            do {
                try await self.waitUntil("exit", timeout: timeout) { self.status != nil }
            } catch {
                self.kill()
                throw error
            }
            let stdout = self.stdout
            let stderr = self.stderr
            return Output(status: self.status ?? -1, text: stdout + stderr, stdout: stdout, stderr: stderr)
        }

        /// Kills the process (SIGKILL) if it still runs.
        func kill() {
            self.signal(SIGKILL)
        }

        /// Asks the process to stop (SIGTERM) if it still runs.
        func terminate() {
            self.signal(SIGTERM)
        }

        private func signal(_ signal: Int32) {
            if self.status == nil { sendSignal(signal, to: self.pid) }
        }

        private static func read(_ file: URL) -> String {
            String(decoding: (try? Data(contentsOf: file)) ?? Data(), as: UTF8.self)
        }

        /// Re-checks `condition` every 10 ms until it holds: a deadline, never a fixed sleep.
        private func waitUntil(_ what: String, timeout: Duration, _ condition: () throws -> Bool) async throws {
            let deadline = ContinuousClock.now.advanced(by: timeout)
            while try !condition() {
                guard ContinuousClock.now < deadline else {
                    let state = "pid \(self.pid) \(isAlive(self.pid) ? "alive" : "gone"), exit status \(self.status.map(String.init) ?? "unknown")"
                    throw CLIError(message: "timed out waiting for \(what) from \(self.commandLine) (\(state)); stdout:\n\(self.stdout)\nstderr:\n\(self.stderr)")
                }
                try await Task.sleep(for: .milliseconds(10))
            }
        }
    }
}

/// `kill(pid, signal)`, outside ``CLI/Running`` whose own `kill()` would shadow it.
private func sendSignal(_ signal: Int32, to pid: Int32) {
    _ = kill(pid, signal)
}

/// Whether a process with `pid` exists (a zombie counts).
private func isAlive(_ pid: Int32) -> Bool {
    kill(pid, 0) == 0
}
