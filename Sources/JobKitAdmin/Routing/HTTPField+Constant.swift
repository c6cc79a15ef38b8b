import HTTPTypes

extension HTTPField.Name {
    /// A header name written in this module's source.
    /// - Parameter name: A valid field name; an invalid one is a programmer error.
    static func constant(_ name: String) -> HTTPField.Name {
        guard let field = HTTPField.Name(name) else { preconditionFailure("\(name) is not a valid HTTP field name") }
        return field
    }
}
