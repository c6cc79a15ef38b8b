import Foundation

/// The one JSON line a run prints: keys sorted, as the peers' `json.dumps(sort_keys=True)`.
struct BenchReport {
    private var fields: [String: Any] = [:]

    subscript(key: String) -> Any? {
        get { self.fields[key] }
        set { self.fields[key] = newValue }
    }

    /// Writes the line to stdout.
    func emit() throws {
        var data = try JSONSerialization.data(withJSONObject: self.fields, options: [.sortedKeys, .withoutEscapingSlashes])
        data.append(UInt8(ascii: "\n"))
        FileHandle.standardOutput.write(data)
    }
}

/// A failed run: its message goes to stderr and the exit status is non-zero.
struct BenchError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// Progress lines on stderr, so stdout carries only the JSON line.
enum BenchLog {
    static func info(_ message: String) {
        FileHandle.standardError.write(Data("libpq-bench: \(message)\n".utf8))
    }
}
