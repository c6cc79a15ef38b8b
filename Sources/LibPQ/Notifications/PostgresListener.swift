import CLibPQ
import Foundation
import Logging
import Synchronization

/// A notification sent with `NOTIFY channel, 'payload'` or `pg_notify`.
public struct PostgresNotification: Sendable, Hashable {
    /// The channel it was sent on.
    public var channel: String
    /// The payload; empty when none was given.
    public var payload: String
    /// The process id of the server backend that sent it.
    public var senderPID: Int32
}

/// Receives `LISTEN/NOTIFY` notifications on a dedicated connection and thread.
///
/// The thread waits with `poll` on the connection's socket, so an idle listener costs no
/// CPU. When the connection drops, the listener reconnects with backoff and listens again;
/// each subscriber then receives ``Event/listening`` so that it can re-check whatever it
/// might have missed. A lost notification therefore delays, it never loses.
///
/// > Warning: Notifications flow only while ``run()`` runs.
///
/// ```swift
/// let listener = PostgresListener(configuration: configuration)
/// try await withThrowingDiscardingTaskGroup { group in
///     group.addTask { try await listener.run() }
///     for await event in listener.events(on: "jobs") {
///         if case .notification(let notification) = event { handle(notification.payload) }
///     }
/// }
/// ```
public final class PostgresListener: Sendable {
    /// What a subscriber receives.
    public enum Event: Sendable, Hashable {
        /// The channel is being listened to: sent once it is first set up and again after every
        /// reconnection. Notifications sent while it was not may have been missed.
        case listening
        /// A notification arrived.
        case notification(PostgresNotification)
    }

    private struct Subscriber {
        var channel: String
        var continuation: AsyncStream<Event>.Continuation
    }

    private enum Command {
        case listen(String)
        case unlisten(String)
    }

    private struct State {
        var subscribers: [Int: Subscriber] = [:]
        var nextID = 0
        var commands: [Command] = []
        var isStopping = false
        var isRunning = false
        var isConnected = false
        var backendPID: Int32?
    }

    private let configuration: PostgresConfiguration
    private let logger: Logger
    private let state = Mutex(State())
    /// A pipe whose read end the thread polls beside the socket; a byte written wakes it.
    private let wakeReader: Int32
    private let wakeWriter: Int32

    /// Creates a listener; it connects when ``run()`` starts.
    /// - Parameters:
    ///   - configuration: Where and how to connect.
    ///   - logger: Receives `debug` entries for connects and reconnects.
    public init(
        configuration: PostgresConfiguration,
        logger: Logger = Logger(label: "jobkit.pg", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.configuration = configuration
        self.logger = logger
        var descriptors: [Int32] = [-1, -1]
        let created = pipe(&descriptors)
        precondition(created == 0, "could not create a pipe: errno \(errno)")
        for descriptor in descriptors {
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
            _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        }
        self.wakeReader = descriptors[0]
        self.wakeWriter = descriptors[1]
    }

    deinit {
        close(self.wakeReader)
        close(self.wakeWriter)
    }

    /// The server process id of the listening connection, while connected.
    public var backendPID: Int32? {
        self.state.withLock { $0.backendPID }
    }

    /// Subscribes to a channel.
    ///
    /// The sequence first yields ``Event/listening`` once the `LISTEN` is in place, then every
    /// notification on the channel. It ends when the listener stops; stopping iteration
    /// unsubscribes.
    /// - Parameter channel: The channel name (any text; it is quoted).
    /// - Returns: The channel's events.
    public func events(on channel: String) -> AsyncStream<Event> {
        let (stream, continuation) = AsyncStream<Event>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
        let id: Int? = self.state.withLock { state in
            guard !state.isStopping else { return nil }
            state.nextID += 1
            let isFirst = !state.subscribers.values.contains { $0.channel == channel }
            state.subscribers[state.nextID] = Subscriber(channel: channel, continuation: continuation)
            if isFirst {
                state.commands.append(.listen(channel))
            } else if state.isConnected {
                continuation.yield(.listening)
            }
            return state.nextID
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            self?.unsubscribe(id)
        }
        self.wake()
        return stream
    }

    /// Connects and delivers notifications until the calling task is cancelled.
    ///
    /// The work runs on a thread of its own; this function only waits for it.
    /// - Throws: ``PostgresError`` `.invalidConfiguration` for a malformed connection string.
    ///   Connection failures are retried, not thrown.
    public func run() async throws {
        let alreadyRunning = self.state.withLock { state in
            defer { state.isRunning = true }
            return state.isRunning
        }
        precondition(!alreadyRunning, "PostgresListener.run() must be called once")
        let handle = try LibPQHandle(configuration: self.configuration, cancelToken: CancelToken())
        handle.belongsToListener = true
        // `handle` is used only by the thread below until it exits.
        let transfer = UnsafeTransfer(handle)
        await withTaskCancellationHandler {
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                let thread = Thread {
                    self.loop(transfer.value)
                    done.resume()
                }
                thread.name = "jobkit.pg.listener"
                thread.stackSize = 512 * 1024
                thread.start()
            }
        } onCancel: {
            self.state.withLock { $0.isStopping = true }
            self.wake()
        }
        let subscribers = self.state.withLock { state in
            defer { state.subscribers = [:] }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.continuation.finish() }
    }

    // MARK: - The thread

    private func loop(_ handle: LibPQHandle) {
        var backoff = 0.05
        while !self.state.withLock({ $0.isStopping }) {
            if !handle.isOpen {
                if self.connect(handle) {
                    backoff = 0.05
                } else {
                    self.waitForWake(timeoutMilliseconds: Int32(backoff * 1000))
                    backoff = min(backoff * 2, 2)
                    continue
                }
            }
            self.runCommands(handle)
            // A LISTEN that failed closed the connection: reconnect rather than poll no socket.
            guard handle.isOpen else { continue }
            // Notifications that arrived while a LISTEN ran wait in libpq's queue, not on the socket.
            self.deliverQueuedNotifications(handle)
            var descriptors = [
                pollfd(fd: self.wakeReader, events: Int16(POLLIN), revents: 0),
                pollfd(fd: handle.socket, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&descriptors, 2, -1)
            if ready < 0 { continue }
            if descriptors[0].revents != 0 { self.drainWake() }
            if descriptors[1].revents != 0 { self.receive(handle) }
        }
        handle.close()
        self.state.withLock { state in
            state.isConnected = false
            state.backendPID = nil
        }
    }

    /// Opens the connection and listens on every subscribed channel.
    private func connect(_ handle: LibPQHandle) -> Bool {
        do {
            try handle.open()
            let channels = self.state.withLock { state in
                state.commands.removeAll()
                return Set(state.subscribers.values.map(\.channel))
            }
            for channel in channels {
                _ = try handle.executeSimple("LISTEN \(Self.quoted(channel))")
            }
            let pid = handle.connection.map { PQbackendPID($0) }
            let subscribers = self.state.withLock { state in
                state.isConnected = true
                state.backendPID = pid
                return Array(state.subscribers.values)
            }
            for subscriber in subscribers where channels.contains(subscriber.channel) {
                subscriber.continuation.yield(.listening)
            }
            self.logger.debug("Listener connected", metadata: ["jobkit.pg.channels": "\(channels.sorted())"])
            return true
        } catch {
            self.state.withLock { $0.isConnected = false }
            handle.close()
            self.logger.debug("Listener could not connect", metadata: ["jobkit.pg.error": "\(error)"])
            return false
        }
    }

    private func runCommands(_ handle: LibPQHandle) {
        let commands = self.state.withLock { state in
            defer { state.commands.removeAll() }
            return state.commands
        }
        for command in commands {
            switch command {
            case .listen(let channel):
                do {
                    _ = try handle.executeSimple("LISTEN \(Self.quoted(channel))")
                    let subscribers = self.state.withLock { state in
                        state.subscribers.values.filter { $0.channel == channel }
                    }
                    for subscriber in subscribers { subscriber.continuation.yield(.listening) }
                } catch {
                    // The connection broke; reconnecting listens on every channel again.
                    handle.close()
                    return
                }
            case .unlisten(let channel):
                _ = try? handle.executeSimple("UNLISTEN \(Self.quoted(channel))")
            }
        }
    }

    private func receive(_ handle: LibPQHandle) {
        guard let connection = handle.connection else { return }
        guard PQconsumeInput(connection) == 1, PQstatus(connection) == CONNECTION_OK else {
            self.logger.debug("Listener connection lost")
            handle.close()
            self.state.withLock { state in
                state.isConnected = false
                state.backendPID = nil
            }
            return
        }
        self.deliverQueuedNotifications(handle)
    }

    private func deliverQueuedNotifications(_ handle: LibPQHandle) {
        guard let connection = handle.connection else { return }
        while let raw = PQnotifies(connection) {
            let notification = PostgresNotification(
                channel: String(cString: raw.pointee.relname),
                payload: raw.pointee.extra.map { String(cString: $0) } ?? "",
                senderPID: raw.pointee.be_pid)
            PQfreemem(raw)
            let subscribers = self.state.withLock { state in
                state.subscribers.values.filter { $0.channel == notification.channel }
            }
            for subscriber in subscribers {
                subscriber.continuation.yield(.notification(notification))
            }
        }
    }

    private func unsubscribe(_ id: Int) {
        let changed = self.state.withLock { state -> Bool in
            guard let removed = state.subscribers.removeValue(forKey: id) else { return false }
            guard !state.isStopping, !state.subscribers.values.contains(where: { $0.channel == removed.channel }) else { return false }
            state.commands.append(.unlisten(removed.channel))
            return true
        }
        if changed { self.wake() }
    }

    // MARK: - Waking the thread

    private func wake() {
        var byte: UInt8 = 1
        _ = write(self.wakeWriter, &byte, 1)
    }

    private func drainWake() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(self.wakeReader, &buffer, buffer.count) > 0 {}
    }

    private func waitForWake(timeoutMilliseconds: Int32) {
        var descriptor = pollfd(fd: self.wakeReader, events: Int16(POLLIN), revents: 0)
        if poll(&descriptor, 1, timeoutMilliseconds) > 0 { self.drainWake() }
    }

    static func quoted(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// Moves a non-`Sendable` value to another thread that becomes its only user.
///
/// `@unchecked Sendable`: callers hand the value over and never touch it again.
struct UnsafeTransfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
