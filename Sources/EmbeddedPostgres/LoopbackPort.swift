#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// TCP ports on 127.0.0.1: picking a free one, and checking that one accepts connections.
enum LoopbackPort {
    /// Picks a port nobody listens on: binds port 0 on 127.0.0.1, reads the port back, closes.
    ///
    /// Another process may take the port before the server binds it; the caller picks again
    /// when the server reports the address in use.
    ///
    /// - Returns: The port.
    /// - Throws: ``EmbeddedPostgresError/Code/noFreePort`` if the socket calls fail.
    static func pickFree() throws -> Int {
        let descriptor = socket(AF_INET, Self.streamSocketType, 0)
        guard descriptor >= 0 else {
            throw EmbeddedPostgresError.noFreePort("could not create a socket: \(Self.lastError())")
        }
        defer { close(descriptor) }

        var address = Self.loopbackAddress(port: 0)
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            throw EmbeddedPostgresError.noFreePort("could not bind 127.0.0.1:0: \(Self.lastError())")
        }

        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getsockname(descriptor, $0, &length)
            }
        }
        guard named == 0 else {
            throw EmbeddedPostgresError.noFreePort("could not read the bound port: \(Self.lastError())")
        }
        let port = Int(UInt16(bigEndian: address.sin_port))
        guard port > 0 else {
            throw EmbeddedPostgresError.noFreePort("the system gave port 0 for 127.0.0.1")
        }
        return port
    }

    /// Whether something accepts TCP connections on 127.0.0.1 at `port`.
    ///
    /// A loopback connect is answered at once (accepted or refused); a one-second send
    /// timeout bounds the pathological case of a full listen queue.
    ///
    /// - Parameters:
    ///   - port: The port.
    /// - Returns: `true` if a connection was established (and closed again).
    static func acceptsConnections(_ port: Int) -> Bool {
        let descriptor = socket(AF_INET, Self.streamSocketType, 0)
        guard descriptor >= 0 else {
            return false
        }
        defer { close(descriptor) }

        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        _ = setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = Self.loopbackAddress(port: port)
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return connected == 0
    }

    // MARK: Helpers

    #if canImport(Glibc)
    private static let streamSocketType = Int32(SOCK_STREAM.rawValue)
    #else
    private static let streamSocketType = SOCK_STREAM
    #endif

    private static func loopbackAddress(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        #if canImport(Darwin)
        address.sin_len = UInt8(MemoryLayout<sockaddr_in>.size)
        #endif
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(truncatingIfNeeded: port)).bigEndian
        address.sin_addr = in_addr(s_addr: in_addr_t(0x7F00_0001).bigEndian)
        return address
    }

    private static func lastError() -> String {
        String(cString: strerror(errno))
    }
}
