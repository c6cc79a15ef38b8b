/// The running/stopped/removed state of one cluster, with its operations run one at a time.
///
/// An actor alone would interleave two operations at their `await`s (a stop racing a start),
/// so each operation also holds a first-come, first-served turn for its whole length.
actor ServerLifecycle {
    enum State: Sendable {
        case running
        case stopped
        case shutDown
    }

    private let cluster: Cluster
    private var state: State = .running
    private var isBusy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(cluster: Cluster) {
        self.cluster = cluster
    }

    // MARK: Operations

    func stopServer() async throws {
        await self.takeTurn()
        defer { self.endTurn() }
        switch self.state {
        case .running:
            try await self.cluster.stopServer(mode: .fast)
            self.state = .stopped
        case .stopped:
            return
        case .shutDown:
            throw EmbeddedPostgresError.stopFailed("the cluster in \(self.cluster.folder) was shut down")
        }
    }

    func startServer() async throws {
        await self.takeTurn()
        defer { self.endTurn() }
        switch self.state {
        case .stopped:
            try await self.cluster.startServer()
            self.state = .running
        case .running:
            return
        case .shutDown:
            throw EmbeddedPostgresError.startFailed("the cluster in \(self.cluster.folder) was shut down")
        }
    }

    func shutdown() async throws {
        await self.takeTurn()
        defer { self.endTurn() }
        guard self.state != .shutDown else {
            return
        }
        self.state = .shutDown
        var stopError: (any Error)?
        // The pid file rather than `state`: the server may also have been left by a failed stop.
        if self.cluster.hasPostmasterPID {
            do {
                try await self.cluster.stopServer(mode: .fast)
            } catch {
                self.cluster.logger.info(
                    "Embedded PostgreSQL fast shutdown failed, aborting the server",
                    metadata: ["jobkit.embedded-postgres.error": "\(error)"]
                )
                do {
                    try await self.cluster.stopServer(mode: .immediate)
                } catch {
                    stopError = error
                }
            }
        }
        Watchdog.stopAll(in: self.cluster.folder)
        try self.cluster.removeFolder()
        if let stopError {
            throw stopError
        }
    }

    // MARK: Turns

    private func takeTurn() async {
        guard self.isBusy else {
            self.isBusy = true
            return
        }
        await withCheckedContinuation { self.waiting.append($0) }
    }

    private func endTurn() {
        if self.waiting.isEmpty {
            self.isBusy = false
        } else {
            // The turn passes straight to the next caller; isBusy stays true.
            self.waiting.removeFirst().resume()
        }
    }
}
