import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A shell process that removes a cluster when the process that owns it dies.
///
/// `shutdown()` cannot run when a test process is killed (SIGKILL, or a SIGINT that ends it
/// before any cleanup), so each cluster gets a watchdog: `/bin/sh` in a session of its own,
/// out of reach of the terminal's signals and of kills aimed at the owner's process group.
/// Once a second it checks that the owner is alive (`kill -0`) and that the folder still
/// exists. When the owner is gone it stops the server (`pg_ctl stop -m immediate`, as the
/// server's account) and removes the folder. When the folder is gone (a normal `shutdown()`),
/// it exits quietly; `shutdown()` also kills it, through the pid file it writes into the folder.
enum Watchdog {
    /// The watchdog's program. Arguments: owner pid, folder, data folder, pg_ctl, pid file,
    /// runuser (or empty), server account (or empty).
    static let script = #"""
        owner=$1 folder=$2 data=$3 pg_ctl=$4 pidfile=$5 runuser=$6 account=$7
        trap '' HUP INT
        echo $$ > "$pidfile"
        while kill -0 "$owner" 2>/dev/null && [ -d "$folder" ]; do sleep 1; done
        [ -d "$folder" ] || exit 0
        if [ -f "$data/postmaster.pid" ]; then
          if [ -n "$account" ]; then
            "$runuser" -u "$account" -- "$pg_ctl" stop -D "$data" -m immediate -w -t 60
          else
            "$pg_ctl" stop -D "$data" -m immediate -w -t 60
          fi
        fi
        rm -rf "$folder"
        """#

    /// The prefix of the pid files watchdogs write into the cluster's folder.
    static let pidFilePrefix = "watchdog-"

    /// Launches a watchdog for a cluster.
    ///
    /// - Parameters:
    ///   - ownerID: The process whose death removes the cluster.
    ///   - cluster: The cluster.
    /// - Throws: ``EmbeddedPostgresError/Code/processFailed`` if the shell cannot be launched.
    static func launch(watching ownerID: pid_t, cluster: Cluster) async throws {
        let pidFile = "\(cluster.folder)/\(Self.pidFilePrefix)\(ownerID).pid"
        let switchUser = cluster.account.switchUser
        let shellArguments = [
            "-c", Self.script, "jobkit-embedded-postgres-watchdog",
            "\(ownerID)", cluster.folder, cluster.dataDirectory, cluster.binaries.pgCtl, pidFile,
            switchUser?.runuserPath ?? "", switchUser?.userName ?? "",
        ]
        let setsidCandidates = ["/usr/bin/setsid", "/bin/setsid"]
        if let setsid = setsidCandidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
            // `setsid -f` forks the shell into a new session and exits at once.
            let termination = try await ChildProcess.run(setsid, ["-f", "/bin/sh"] + shellArguments)
            guard termination.isSuccess else {
                throw EmbeddedPostgresError.processFailed(
                    "could not launch the cleanup watchdog: setsid ended with \(termination)"
                )
            }
        } else {
            // No setsid (macOS): a process group of its own keeps the shell out of reach of the
            // terminal's signals.
            try ChildProcess.launchDetached("/bin/sh", shellArguments)
        }
        cluster.logger.debug(
            "Embedded PostgreSQL watchdog launched",
            metadata: [
                "jobkit.embedded-postgres.folder": "\(cluster.folder)",
                "jobkit.embedded-postgres.watched-pid": "\(ownerID)",
            ]
        )
    }

    /// Ends every watchdog of a cluster whose pid file is in its folder.
    ///
    /// A watchdog that has not yet written its pid file exits by itself within a second of
    /// the folder's removal.
    ///
    /// - Parameters:
    ///   - folder: The cluster's folder.
    static func stopAll(in folder: String) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        for name in names where name.hasPrefix(Self.pidFilePrefix) && name.hasSuffix(".pid") {
            let text = OutputFile.tail(of: "\(folder)/\(name)")
            // Each watchdog leads its own process group: this ends its `sleep` too.
            if let pid = pid_t(text), pid > 1 {
                _ = kill(-pid, SIGTERM)
            }
        }
    }
}
