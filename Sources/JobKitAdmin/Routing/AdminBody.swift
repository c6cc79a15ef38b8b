import Foundation
import Hummingbird

/// Reads request bodies: JSON for the API, form fields for the login page.
enum AdminBody {
    /// Decodes the JSON body as `type`.
    /// - Parameters:
    ///   - allowsEmpty: Whether an empty body stands for `{}`.
    /// - Throws: 400 `malformed_body` (not JSON, wrong types, empty when not allowed);
    ///   413 `body_too_large` past the context's upload limit.
    static func decode<Body: Decodable>(
        _ type: Body.Type,
        from request: Request,
        context: AdminRequestContext,
        allowsEmpty: Bool
    ) async throws -> Body {
        let buffer = try await request.body.collect(upTo: context.maxUploadSize)
        var data = Data(buffer.readableBytesView)
        if data.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) {
            guard allowsEmpty else { throw AdminAPIError.malformedBody("the body is empty: send a JSON object") }
            data = Data("{}".utf8)
        }
        do {
            return try AdminJSON.decoder().decode(type, from: data)
        } catch DecodingError.typeMismatch(_, let context) {
            throw AdminAPIError.malformedBody("\(Self.path(context)) has the wrong type")
        } catch DecodingError.valueNotFound(_, let context) {
            throw AdminAPIError.malformedBody("\(Self.path(context)) must not be null")
        } catch DecodingError.keyNotFound(let key, _) {
            throw AdminAPIError.malformedBody("\(key.stringValue) is missing")
        } catch {
            throw AdminAPIError.malformedBody("the body is not valid JSON")
        }
    }

    /// The form fields of an `application/x-www-form-urlencoded` body.
    /// - Throws: 413 past the upload limit; 422 for malformed escapes.
    static func form(from request: Request, context: AdminRequestContext) async throws -> QueryParameters {
        let buffer = try await request.body.collect(upTo: 8 * 1024)
        return try QueryParameters(String(decoding: buffer.readableBytesView, as: UTF8.self))
    }

    /// `a.b[2]`, or `the body` for the top level.
    private static func path(_ context: DecodingError.Context) -> String {
        let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        return path.isEmpty ? "the body" : path
    }
}
