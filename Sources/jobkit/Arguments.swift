import ArgumentParser
import Foundation
import JobKit

extension JobStatus: ExpressibleByArgument {}

extension UUID: @retroactive ExpressibleByArgument {
    /// Parses a job id given on the command line.
    /// - Parameter argument: The text, a UUID in either case.
    public init?(argument: String) {
        self.init(uuidString: argument)
    }
}

/// A length of time written as a number and a unit: `90s`, `30m`, `12h`, `7d`.
struct TimeSpan: ExpressibleByArgument, Sendable, CustomStringConvertible {
    private static let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]

    let duration: Duration
    let description: String

    init(duration: Duration, description: String) {
        self.duration = duration
        self.description = description
    }

    init?(argument: String) {
        guard let unit = argument.last.flatMap({ Self.units[$0] }),
            let count = Int64(argument.dropLast()), count >= 0, count <= Int64.max / unit
        else { return nil }
        self.duration = .seconds(count * unit)
        self.description = argument
    }

    static var defaultCompletionKind: CompletionKind { .default }
}
