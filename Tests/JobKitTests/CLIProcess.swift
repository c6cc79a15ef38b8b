import Foundation

/// Runs the `jobkit` executable built beside the tests, as a separate process.
enum CLI {
    struct Output: Sendable {
        var status: Int32
        var text: String
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
    static func run(_ arguments: [String]) async throws -> Output {
        let process = Process()
        process.executableURL = try self.executable
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        return Output(status: status, text: String(decoding: data, as: UTF8.self))
    }
}
