import Foundation
import JobKit

/// One file of the batch: the job's payload.
struct FileInput: Codable, Sendable {
    /// The type name of the batch's jobs.
    static let jobType = "count-words"

    var path: String

    var name: String { URL(fileURLWithPath: self.path).lastPathComponent }

    /// The folder's regular, visible files, sorted by name.
    static func list(in folder: URL) throws -> [FileInput] {
        let entries = try FileManager.default.contentsOfDirectory(
            at: folder, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles])
        return try entries
            .filter { try $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile == true }
            .map { FileInput(path: $0.path) }
            .sorted { $0.path < $1.path }
    }

    /// Counts the file's lines and words, a quarter at a time, reporting progress after each.
    func process(job: JobContext, work: Duration) async throws -> FileStats {
        let data = try Data(contentsOf: URL(fileURLWithPath: self.path))
        guard let text = String(data: data, encoding: .utf8) else { throw UnreadableFile(name: self.name) }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let quarters = 4
        var words = 0
        for quarter in 0..<quarters {
            let slice = lines[(lines.count * quarter / quarters)..<(lines.count * (quarter + 1) / quarters)]
            words += slice.reduce(0) { $0 + $1.split(whereSeparator: \.isWhitespace).count }
            try await Task.sleep(for: work / quarters)  // the rest of the work a real job would do
            try await job.progress((quarter + 1) * 100 / quarters, step: "quarter \(quarter + 1) of \(quarters)")
        }
        job.logger.debug("File counted", metadata: ["example.file": "\(self.name)", "example.words": "\(words)"])
        let lineCount = text.isEmpty ? 0 : lines.count - (text.hasSuffix("\n") ? 1 : 0)
        return FileStats(name: self.name, bytes: data.count, lines: lineCount, words: words)
    }
}

/// What a file's job returns, stored as its result.
struct FileStats: Codable, Sendable {
    var name: String
    var bytes: Int
    var lines: Int
    var words: Int
}

/// A file that is not UTF-8 text: its job fails with this error.
struct UnreadableFile: Error, CustomStringConvertible {
    var name: String
    var description: String { "not UTF-8 text" }
}

/// A folder of sample text files in the temporary folder, for a run without a folder argument.
struct SampleFolder: Sendable {
    let url: URL

    /// Makes the folder with a couple of dozen short text files.
    static func create(count: Int = 24) throws -> SampleFolder {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("jobkit-batch-sample-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let words = ["queue", "lease", "worker", "retry", "progress", "postgres", "batch", "job", "done", "swift", "cancel", "heartbeat"]
        for index in 1...count {
            let lines = (0..<(index * 3)).map { line in
                (0..<(4 + (index + line) % 7)).map { words[(index * 5 + line * 3 + $0) % words.count] }.joined(separator: " ")
            }
            let name = String(format: "note-%02d.txt", index)
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: url.appendingPathComponent(name))
        }
        return SampleFolder(url: url)
    }

    /// Removes the folder, best effort.
    func remove() {
        try? FileManager.default.removeItem(at: self.url)
    }
}
