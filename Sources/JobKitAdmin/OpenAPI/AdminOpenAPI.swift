import Foundation
import Hummingbird

/// The OpenAPI 3 document of the admin API, served at `/admin/openapi.json`.
///
/// Its text lives in `Documentation/openapi.json`; `scripts/admin/embed-openapi.sh` copies it
/// into ``document``, and a test checks that the served document equals the file and names
/// exactly the router's API routes.
enum AdminOpenAPI {
    /// The path it is served at.
    static let path = "/admin/openapi.json"

    /// The document as an answer: the file's bytes (the string literal drops its final newline).
    static func response() -> Response {
        AdminJSON.response(data: Data((Self.document + "\n").utf8))
    }
}
