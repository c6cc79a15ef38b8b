import Foundation

extension JobService {
    /// Runs every item as a tracked job in this process, at most `concurrency` at once, and
    /// returns each item's outcome in the items' order.
    ///
    /// ```swift
    /// let results = try await jobs.runBatch("thumbnail", images, concurrency: 8) { image, job in
    ///     try await makeThumbnail(image)
    /// }
    /// ```
    /// - Parameters:
    ///   - type: The jobs' type name.
    ///   - items: The inputs, one job each (stored as payloads).
    ///   - concurrency: The most items running at once. Defaults to 8.
    ///   - options: Options for every item's job.
    ///   - stopOnFailure: Whether the first failure cancels the items still running and skips
    ///     the rest (they report `CancellationError`). Defaults to `false`: one item's failure
    ///     does not stop the others.
    ///   - body: The work for one item, given its job's ``JobContext``.
    /// - Returns: One result per item, in order.
    /// - Throws: ``JobError/Code/invalidArgument`` for a concurrency below 1; `CancellationError`.
    public nonisolated func runBatch<Item: Codable & Sendable, Output: Codable & Sendable>(
        _ type: String,
        _ items: [Item],
        concurrency: Int = 8,
        options: JobOptions = .init(),
        stopOnFailure: Bool = false,
        _ body: @escaping @Sendable (Item, JobContext) async throws -> Output
    ) async throws -> [Result<Output, any Error>] {
        guard concurrency >= 1 else { throw JobError.invalidArgument("concurrency must be at least 1, not \(concurrency)") }
        var results = [Result<Output, any Error>](repeating: .failure(CancellationError()), count: items.count)
        await withTaskGroup(of: (Int, Result<Output, any Error>).self) { group in
            var next = 0
            func startNext() {
                guard next < items.count else { return }
                let index = next
                let item = items[index]
                next += 1
                group.addTask {
                    do {
                        return (index, .success(try await self.runAsJob(type, payload: item, options: options) { job in
                            try await body(item, job)
                        }))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            for _ in 0..<min(concurrency, items.count) { startNext() }
            var stopped = false
            while let (index, result) = await group.next() {
                results[index] = result
                if case .failure = result, stopOnFailure, !stopped {
                    stopped = true
                    group.cancelAll()
                }
                if !stopped { startNext() }
            }
        }
        try Task.checkCancellation()
        return results
    }
}
