import EmbeddedPostgres

/// The server a run talks to: the one named by `--dsn` or `DATABASE_URL`, or else an
/// ``EmbeddedPostgres`` cluster with its durable defaults, started for this run.
struct BenchServer {
    /// The URL to connect to.
    let url: String
    private let embedded: EmbeddedPostgres?

    /// Picks `dsn`, then `DATABASE_URL`, then starts an embedded cluster.
    static func resolve(dsn: String?, environment: [String: String]) async throws -> BenchServer {
        if let dsn, !dsn.isEmpty {
            return BenchServer(url: dsn, embedded: nil)
        }
        if let url = environment["DATABASE_URL"], !url.isEmpty {
            BenchLog.info("using DATABASE_URL")
            return BenchServer(url: url, embedded: nil)
        }
        BenchLog.info("no --dsn or DATABASE_URL: starting an embedded PostgreSQL (durable settings)")
        let embedded = try await EmbeddedPostgres.start()
        BenchLog.info("embedded PostgreSQL listening on 127.0.0.1:\(embedded.port)")
        return BenchServer(url: embedded.url, embedded: embedded)
    }

    /// Stops and removes the embedded cluster, if this run started one.
    func shutdown() async throws {
        guard let embedded = self.embedded else { return }
        try await embedded.shutdown()
        BenchLog.info("embedded PostgreSQL removed")
    }
}
