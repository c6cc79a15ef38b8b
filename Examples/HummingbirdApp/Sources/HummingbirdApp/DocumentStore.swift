import Foundation
import LibPQ

/// A document as the app stores it, in a table of its own beside JobKit's.
struct Document: Sendable {
    var id: UUID
    var title: String
    var body: String
    var wordCount: Int?
    var createdAt: Date
    var processedAt: Date?
}

/// The app's own table, `documents`: what a real app keeps in its database, written in the same
/// transaction as the job that processes it.
struct DocumentStore: Sendable {
    let pool: PostgresConnectionPool

    /// Creates the table if it is missing (a real app has migrations of its own for this).
    func migrate() async throws {
        try await self.pool.query("""
            CREATE TABLE IF NOT EXISTS documents (
                id uuid PRIMARY KEY,
                title text NOT NULL,
                body text NOT NULL,
                word_count integer,
                created_at timestamptz NOT NULL DEFAULT now(),
                processed_at timestamptz
            )
            """)
    }

    /// Inserts a document on `connection`, inside the caller's transaction.
    /// - Returns: The new document's id.
    func insert(title: String, body: String, on connection: PostgresConnection) async throws -> UUID {
        let id = UUID()
        try await connection.query("INSERT INTO documents (id, title, body) VALUES (\(id), \(title), \(body))")
        return id
    }

    /// The document with `id`, if any.
    func document(_ id: UUID) async throws -> Document? {
        let rows = try await self.pool.query("""
            SELECT id, title, body, word_count, created_at, processed_at FROM documents WHERE id = \(id)
            """)
        guard let row = rows.first else { return nil }
        let (id, title, body, wordCount, createdAt, processedAt) = try row.decode((UUID, String, String, Int?, Date, Date?).self)
        return Document(id: id, title: title, body: body, wordCount: wordCount, createdAt: createdAt, processedAt: processedAt)
    }

    /// Records the outcome of processing.
    func markProcessed(_ id: UUID, wordCount: Int) async throws {
        try await self.pool.query("UPDATE documents SET word_count = \(wordCount), processed_at = now() WHERE id = \(id)")
    }
}
