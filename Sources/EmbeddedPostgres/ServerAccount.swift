import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The account the PostgreSQL tools run as.
///
/// PostgreSQL refuses to run as root, so when this process is root the tools run as the
/// `postgres` account through `runuser` (util-linux), and the cluster's folder belongs to it.
/// Otherwise they run directly, as this process's user.
struct ServerAccount: Sendable {
    /// Set when this process is root: the account to switch to and the `runuser` that switches.
    struct Switch: Sendable {
        var userName: String
        var userID: uid_t
        var groupID: gid_t
        var runuserPath: String
    }

    var switchUser: Switch?

    /// The account for this process: itself, or `postgres` when this process is root.
    ///
    /// - Returns: The account.
    /// - Throws: ``EmbeddedPostgresError/Code/processFailed`` when running as root without a
    ///   `postgres` account or without `runuser`.
    static func current() throws -> ServerAccount {
        guard geteuid() == 0 else {
            return ServerAccount(switchUser: nil)
        }
        let userName = "postgres"
        guard let entry = getpwnam(userName) else {
            throw EmbeddedPostgresError.processFailed(
                "PostgreSQL refuses to run as root and there is no `\(userName)` account to run it as; "
                    + "install the server with `apt-get install postgresql` (which creates it) or run as another user"
            )
        }
        let candidates = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser", "/bin/runuser"]
        guard let runuserPath = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw EmbeddedPostgresError.processFailed(
                "PostgreSQL refuses to run as root and `runuser` (util-linux) was not found to run it as `\(userName)`; "
                    + "install util-linux or run as another user"
            )
        }
        return ServerAccount(
            switchUser: Switch(
                userName: userName,
                userID: entry.pointee.pw_uid,
                groupID: entry.pointee.pw_gid,
                runuserPath: runuserPath
            )
        )
    }

    /// The program and arguments that run `tool` as this account.
    ///
    /// - Parameters:
    ///   - tool: The tool's absolute path.
    ///   - arguments: Its arguments.
    /// - Returns: `tool` itself, or `runuser -u postgres -- tool …` when switching.
    func commandLine(_ tool: String, _ arguments: [String]) -> (executable: String, arguments: [String]) {
        guard let switchUser else {
            return (tool, arguments)
        }
        return (switchUser.runuserPath, ["-u", switchUser.userName, "--", tool] + arguments)
    }

    /// Gives a folder to this account, so that its tools may write there.
    ///
    /// - Parameters:
    ///   - path: The folder.
    /// - Throws: ``EmbeddedPostgresError/Code/processFailed`` if `chown` fails.
    func takeOwnership(of path: String) throws {
        guard let switchUser else {
            return
        }
        guard chown(path, switchUser.userID, switchUser.groupID) == 0 else {
            let reason = String(cString: strerror(errno))
            throw EmbeddedPostgresError.processFailed("could not give \(path) to `\(switchUser.userName)`: \(reason)")
        }
    }
}
