import Foundation
import JobKit

/// Plain-text output shared by the commands.
enum TextOutput {
    /// `2025-11-22T17:20:01Z`.
    static func date(_ date: Date?) -> String {
        date.map { $0.formatted(.iso8601) } ?? "-"
    }

    /// `1.25 s`, or `-`.
    static func seconds(_ value: Double?) -> String {
        value.map { String(format: "%.2f s", $0) } ?? "-"
    }

    /// A job id as users type it.
    static func id(_ id: UUID) -> String {
        id.uuidString.lowercased()
    }

    /// Rows padded into left-aligned columns two spaces apart.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    /// `ocr  in_progress  40% (page 2)`.
    static func summary(_ job: Job) -> String {
        "\(job.type)  \(job.status)  \(job.progress)%\(job.currentStep.map { " (\($0))" } ?? "")"
    }
}
