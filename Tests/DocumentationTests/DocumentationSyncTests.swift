import Foundation
import Testing

/// Keeps the guides and their compiled samples together: every ```swift block of
/// `Documentation/*.md` must appear in `Tests/DocumentationTests/Samples/` (compared line by
/// line, ignoring indentation, blank lines and runs of spaces), where the compiler checks it and
/// the guides' tests run it. A package manifest block (`// swift-tools-version`) cannot live in a
/// test target: SwiftPM evaluates it instead.
@Suite(.timeLimit(.minutes(3)))
struct DocumentationSyncTests {
    /// One fenced Swift block of a guide.
    struct Block: Sendable, CustomTestStringConvertible {
        /// The guide's file name, such as `Queues.md`.
        var file: String
        /// Its number in the guide, from 1.
        var index: Int
        /// The line of its opening fence.
        var line: Int
        /// Its code.
        var code: String

        var testDescription: String { "\(self.file) block \(self.index) (line \(self.line))" }

        /// Whether it is a package manifest rather than code.
        var isManifest: Bool { self.code.hasPrefix("// swift-tools-version") }
    }

    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let samplesDirectory = testsDirectory.appendingPathComponent("Samples")
    static let packageRoot = testsDirectory.deletingLastPathComponent().deletingLastPathComponent()
    static let documentationDirectory = packageRoot.appendingPathComponent("Documentation")

    /// The guides the documentation issue asks for; each must exist.
    static let guides = [
        "README.md", "GettingStarted.md", "Concepts.md", "RunAsJob.md", "Queues.md", "Batches.md", "Embedding.md",
        "Operations.md", "Tuning.md", "Migrating.md",
    ]

    // MARK: Reading

    /// Every Markdown file of `Documentation/`, sorted.
    static func markdownFiles() -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: documentationDirectory.path)) ?? []
        return names.filter { $0.hasSuffix(".md") }.sorted().map { documentationDirectory.appendingPathComponent($0) }
    }

    /// The ```swift blocks of one Markdown text.
    static func swiftBlocks(in markdown: String, file: String) -> [Block] {
        var blocks: [Block] = []
        var current: (line: Int, lines: [String])?
        for (number, line) in markdown.components(separatedBy: "\n").enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if var open = current {
                if trimmed == "```" {
                    blocks.append(Block(file: file, index: blocks.count + 1, line: open.line, code: open.lines.joined(separator: "\n")))
                    current = nil
                } else {
                    open.lines.append(line)
                    current = open
                }
            } else if trimmed == "```swift" {
                current = (number + 1, [])
            }
        }
        return blocks
    }

    /// Every Swift block of every guide.
    static func allBlocks() -> [Block] {
        self.markdownFiles().flatMap { url in
            self.swiftBlocks(in: (try? String(contentsOf: url, encoding: .utf8)) ?? "", file: url.lastPathComponent)
        }
    }

    /// Lines without indentation or trailing space, runs of spaces as one, blank lines dropped.
    static func normalised(_ text: String) -> String {
        text.components(separatedBy: "\n")
            .map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ").trimmingCharacters(in: .whitespaces) }
            // A guide's block may list its imports; the file that compiles it has them at its top.
            .filter { !$0.isEmpty && !$0.hasPrefix("import ") }
            .joined(separator: "\n")
    }

    /// All sample sources, each normalised and framed by newlines so matches fall on whole lines.
    /// The compiled samples: this target's `Samples/`, and the guide samples other test targets
    /// compile beside the tests that run them (`Tests/JobKitTests/*Guide*.swift`).
    static let samples: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: samplesDirectory.path)) ?? []
        let own = names.filter { $0.hasSuffix(".swift") }.sorted().map { samplesDirectory.appendingPathComponent($0) }
        let jobKitTests = packageRoot.appendingPathComponent("Tests/JobKitTests")
        let others = ((try? FileManager.default.contentsOfDirectory(atPath: jobKitTests.path)) ?? [])
            .filter { $0.contains("Guide") && $0.hasSuffix(".swift") }.sorted().map { jobKitTests.appendingPathComponent($0) }
        return (own + others).compactMap { file in
            (try? String(contentsOf: file, encoding: .utf8)).map { "\n" + normalised($0) + "\n" }
        }
    }()

    // MARK: Tests

    @Test func everyGuideExistsAndTheGuidesHaveSwiftBlocks() throws {
        let present = Set(Self.markdownFiles().map(\.lastPathComponent))
        for guide in Self.guides {
            #expect(present.contains(guide), "Documentation/\(guide) is missing")
        }
        #expect(Self.allBlocks().count >= 30, "the guides' Swift blocks were not found in \(Self.documentationDirectory.path)")
        #expect(Self.samples.count >= 9, "the samples were not found in \(Self.samplesDirectory.path)")
    }

    @Test func theMatcherIgnoresIndentationButNotCode() {
        let markdown = """
            Text.
            ```swift
                let canRetry = JobTransitions.allows(.retry, from: .failed)   // true
            ```
            ```swift
            let canRetry = JobTransitions.allows(.retry, from: .done)  // true
            ```
            ```sh
            jobkit list
            ```
            """
        let blocks = Self.swiftBlocks(in: markdown, file: "Test.md")
        #expect(blocks.map(\.line) == [2, 5])
        let found = blocks.map { block in Self.samples.contains { $0.contains("\n" + Self.normalised(block.code) + "\n") } }
        #expect(found == [true, false])
    }

    @Test(arguments: allBlocks().filter { !$0.isManifest })
    func swiftBlockIsCompiledSampleCode(_ block: Block) {
        let code = Self.normalised(block.code)
        #expect(!block.code.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
            "Documentation/\(block.file), block \(block.index) (line \(block.line)) is empty")
        // A block of imports only: the sample files import the same modules.
        guard !code.isEmpty else { return }
        #expect(
            Self.samples.contains { $0.contains("\n" + code + "\n") },
            """
            Documentation/\(block.file), block \(block.index) (line \(block.line)) is not in \
            Tests/DocumentationTests/Samples: put the code there (where it compiles) and copy it into the guide.
            """)
    }

    @Test(arguments: allBlocks().filter(\.isManifest))
    func manifestBlockEvaluatesAndNamesRealProducts(_ block: Block) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jobkit-docs-manifest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try block.code.write(to: directory.appendingPathComponent("Package.swift"), atomically: true, encoding: .utf8)

        let output = try await Self.run(["swift", "package", "dump-package"], in: directory)
        #expect(output.status == 0, "\(block.testDescription): `swift package dump-package` failed: \(output.text)")

        // Every product it takes from the package "jobkit" is one the root manifest declares.
        let root = try String(contentsOf: Self.packageRoot.appendingPathComponent("Package.swift"), encoding: .utf8)
        #expect(root.contains("name: \"jobkit\""))
        let named = block.code.matches(of: #/\.product\(name: "([A-Za-z]+)", package: "jobkit"\)/#).map { String($0.output.1) }
        #expect(!named.isEmpty)
        for product in named {
            #expect(root.contains(".library(name: \"\(product)\""), "\(block.testDescription) names product \(product), which Package.swift lacks")
        }
    }

    // MARK: The admin API's curl examples

    /// One `curl` call of a guide: its method and its path, parameters as `{}`, no query.
    struct CurlCall: Hashable, Sendable, CustomStringConvertible {
        var method: String
        var path: String
        var description: String { "\(self.method) \(self.path)" }
    }

    /// The `curl` calls of a guide's ```sh blocks that go to `$ADMIN`, continuation lines joined.
    static func curlCalls(in markdown: String) -> [CurlCall] {
        let commands = markdown.replacingOccurrences(of: "\\\n", with: " ").components(separatedBy: "\n")
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { $0.hasPrefix("curl ") && $0.contains("$ADMIN") }
        return commands.compactMap { command in
            guard let match = command.firstMatch(of: #/\$ADMIN(/admin[^"'\s?]*)/#) else { return nil }
            let method = command.contains("-X POST") ? "post" : "get"
            return CurlCall(method: method, path: Self.withParameters(String(match.output.1)))
        }
    }

    /// A path with each parameter as `{}`: a shell variable (`$ID`, `$QUEUE`) in a guide, a
    /// template (`{id}`, `{name}`) in the document.
    static func withParameters(_ path: String) -> String {
        path.replacing(#/\$[A-Z_]+|\{[a-z_]+\}/#, with: "{}")
    }

    @Test func everyCurlExampleCallsAnEndpointOfTheOpenAPIDocumentAndEveryEndpointHasOne() throws {
        let operations = try String(contentsOf: Self.documentationDirectory.appendingPathComponent("Operations.md"), encoding: .utf8)
        let calls = Set(Self.curlCalls(in: operations))
        let document = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.documentationDirectory.appendingPathComponent("openapi.json")))
        let paths = try #require((document as? [String: Any])?["paths"] as? [String: [String: Any]])
        let endpoints = Set(paths.flatMap { path, operations in
            operations.keys.filter { ["get", "post", "put", "patch", "delete"].contains($0) }.map { CurlCall(method: $0, path: Self.withParameters(path)) }
        })
        #expect(!calls.isEmpty)
        for call in calls.sorted(by: { $0.description < $1.description }) {
            #expect(endpoints.contains(call), "Operations.md calls \(call), which openapi.json does not describe")
        }
        for endpoint in endpoints.sorted(by: { $0.description < $1.description }) {
            #expect(calls.contains(endpoint), "Operations.md has no curl example for \(endpoint)")
        }
    }

    /// Runs a command and returns its exit status and combined output.
    static func run(_ arguments: [String], in directory: URL) async throws -> (status: Int32, text: String) {
        let log = directory.appendingPathComponent("output.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.standardOutput = handle
        process.standardError = handle
        let status = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int32, any Error>) in
            process.terminationHandler = { process in continuation.resume(returning: process.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        return (status, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }
}
