import Foundation
import JobKit

// Stand-ins for the application code the guides' samples call (OCR, mail, thumbnails, files).
// The guides name them as "your code"; here they return at once so the samples can run.

/// A document the samples process.
struct Document: Codable, Sendable, Hashable {
    var id: UUID
    var name: String
    var pages: Int
}

/// What OCR returns.
struct Text: Codable, Sendable, Hashable {
    var words: Int
}

/// What the summariser returns.
struct Summary: Codable, Sendable, Hashable {
    var sentences: [String]
}

/// OCR of a whole document.
func recognize(_ document: Document) async throws -> Text {
    Text(words: document.pages * 250)
}

/// OCR of one page: its word count.
func recognize(page: Int, of document: Document) async throws -> Int {
    250
}

/// A summary of a document.
func summarise(_ document: Document) async throws -> Summary {
    Summary(sentences: ["\(document.name) has \(document.pages) pages."])
}

/// Sends mail.
struct Mailer: Sendable {
    func send(to address: String, subject: String) async throws {}
}

/// The mailer the samples use.
let mailer = Mailer()

/// Makes a thumbnail and returns its path.
func makeThumbnail(_ imageID: UUID, width: Int) async throws -> String {
    "thumbnails/\(imageID.uuidString.lowercased())-\(width).png"
}

/// A file that could not be imported.
struct ImportError: Error, CustomStringConvertible {
    var file: String
    var description: String { "\(self.file) is not valid CSV" }
}

/// Imports a file and returns how many rows it held; a name containing "broken" fails.
func importFile(_ file: String) async throws -> Int {
    if file.contains("broken") { throw ImportError(file: file) }
    return file.count
}

/// The rows of a file.
func rows(of file: String) async throws -> [String] {
    ["a", "b", "c"]
}

/// Imports one row.
func importRow(_ row: String) async throws {}

/// Migrates one tenant's data.
func migrate(tenant: String) async throws -> Int {
    tenant.count
}
