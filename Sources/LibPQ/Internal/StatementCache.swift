/// The statements one connection has prepared on its server, by SQL text and parameter types,
/// so a statement that runs again is bound to its prepared form instead of being parsed and
/// planned again.
///
/// Statements with an array parameter are not prepared unless their query says
/// ``PostgresQuery/Preparation/always``. Their cost may depend on the arrays' lengths, which
/// only a plan made for each call's values sees: a prepared statement may settle on a generic
/// plan made for ten elements, and a nested loop over a thousand elements then takes seconds
/// instead of milliseconds.
///
/// Holds at most `capacity` statements; when full, the least recently used one makes room.
/// Names are `jobkit_<n>`, unique for the connection's life; a reconnect empties the cache,
/// since the server forgets a session's statements with the session.
struct StatementCache {
    struct Key: Hashable {
        var sql: String
        var types: [UInt32]

        init(_ query: PostgresQuery) {
            self.sql = query.sql
            self.types = query.bindings.types.map(\.oid)
        }
    }

    private struct Entry {
        var name: String
        var lastUse: UInt64
    }

    let capacity: Int
    private var entries: [Key: Entry] = [:]
    private var clock: UInt64 = 0
    private var nextNumber = 0

    init(capacity: Int) {
        self.capacity = max(0, capacity)
    }

    var isEnabled: Bool { self.capacity > 0 }

    /// Whether `query` should run prepared: the cache is on and the query's
    /// ``PostgresQuery/Preparation`` allows it (by default: no parameter is an array).
    func prepares(_ query: PostgresQuery) -> Bool {
        guard self.isEnabled else { return false }
        switch query.preparation {
        case .automatic: return !query.bindings.types.contains(where: \.isKnownArray)
        case .always: return true
        case .never: return false
        }
    }
    var isFull: Bool { self.entries.count >= self.capacity }
    var count: Int { self.entries.count }

    /// The name `key` was prepared under, marking it used; `nil` when it was not prepared.
    mutating func name(for key: Key) -> String? {
        guard var entry = self.entries[key] else { return nil }
        self.clock += 1
        entry.lastUse = self.clock
        self.entries[key] = entry
        return entry.name
    }

    /// A name no statement of this connection has had.
    mutating func makeName() -> String {
        self.nextNumber += 1
        return "jobkit_\(self.nextNumber)"
    }

    /// Records that `key` is now prepared as `name`.
    mutating func insert(_ key: Key, name: String) {
        self.clock += 1
        self.entries[key] = Entry(name: name, lastUse: self.clock)
    }

    /// Forgets `key`; returns the name it had.
    @discardableResult
    mutating func remove(_ key: Key) -> String? {
        self.entries.removeValue(forKey: key)?.name
    }

    /// Forgets the least recently used statement; returns its name.
    mutating func removeLeastRecentlyUsed() -> String? {
        guard let oldest = self.entries.min(by: { $0.value.lastUse < $1.value.lastUse }) else { return nil }
        return self.remove(oldest.key)
    }

    /// Forgets every statement (the session that held them is gone).
    mutating func removeAll() {
        self.entries.removeAll()
    }
}
