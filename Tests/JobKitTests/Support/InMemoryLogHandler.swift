import Logging
import Synchronization

/// A swift-log handler that keeps every entry in memory, for tests that check what was logged.
///
/// Each test makes its own (``make(level:)``) and passes the logger to what it tests: nothing is
/// bootstrapped, so tests run in parallel. Like every handler it is a value: a copy of the logger
/// has metadata of its own, and every copy appends to the same ``Entries``.
struct InMemoryLogHandler: LogHandler {
    /// One logged entry, with the logger's and the call's metadata merged.
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    /// Where every copy of a handler appends its entries.
    final class Entries: Sendable {
        private let storage = Mutex<[Entry]>([])

        /// The entries so far, oldest first.
        var all: [Entry] { self.storage.withLock { $0 } }

        /// The entries with `message`.
        func with(message: String) -> [Entry] { self.all.filter { $0.message == message } }

        fileprivate func append(_ entry: Entry) { self.storage.withLock { $0.append(entry) } }
    }

    let entries: Entries
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level

    /// A logger whose entries, at `level` and above, land in the returned ``Entries``.
    static func make(level: Logger.Level = .trace) -> (logger: Logger, entries: Entries) {
        let entries = Entries()
        let logger = Logger(label: "jobkit.test") { _ in InMemoryLogHandler(entries: entries, logLevel: level) }
        return (logger, entries)
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = self.metadata
        for (key, value) in event.metadata ?? [:] { merged[key] = value }
        self.entries.append(Entry(level: event.level, message: event.message.description, metadata: merged.mapValues { "\($0)" }))
    }
}
