/// Storage settings of the jobs table for a queue's churn, as SQL for a migration to apply.
///
/// Every job is inserted once and updated two to four times (claim, progress, heartbeat,
/// finish), then deleted by retention. Each update writes a new row version and leaves a dead
/// one behind; what these settings buy:
///
/// - `fillfactor = 70`: inserts fill a page to 70 %, keeping the rest for the new versions of
///   that page's rows. A claim or a finish then writes its version into the same page (one page
///   dirtied, no free-space search), and page pruning reclaims the dead versions there without
///   waiting for vacuum. Progress reports and cancellation requests change no indexed column
///   and become HOT updates (no index entries at all). Claims, finishes and heartbeats cannot
///   be HOT whatever the fillfactor: they change `status`, which the partial indexes'
///   predicates name, or `lease_expires_at`, which `jobs_lease_idx` indexes.
/// - `autovacuum_vacuum_scale_factor = 0.01`, `autovacuum_vacuum_threshold = 1000`: vacuum
///   after 1,000 + 1 % dead versions instead of 50 + 20 %. On a table holding a week of finished
///   jobs the default waits for a fifth of the table, and until then the claim index keeps the
///   entries of every job claimed since the last vacuum, which each claim steps over.
/// - `autovacuum_analyze_scale_factor = 0.02`, `autovacuum_analyze_threshold = 1000`: the share
///   of `scheduled` rows swings from almost all to almost none within minutes; fresher
///   statistics keep the planner on the partial claim index.
///
/// The indexes keep the B-tree default fillfactor (90): their entries arrive at the right-hand
/// edge (`run_at`, `finished_at` and `lease_expires_at` grow), where a page that splits is left
/// full anyway, so a lower fillfactor only wastes space. What bloats them is dead entries, which
/// only vacuum (and B-tree bottom-up deletion) removes: the vacuum thresholds are the lever.
///
/// `ALTER TABLE … SET` takes a `SHARE UPDATE EXCLUSIVE` lock: reads, claims and writes go on.
/// The fillfactor applies to pages filled from then on; `VACUUM FULL` or `pg_repack` would
/// rewrite the existing ones, and is not needed.
package enum TableSettings {
    /// Applies the settings; `{schema}` stands for the schema's name, as in ``Migration/up``.
    package static let up = """
        ALTER TABLE {schema}.jobs SET (
            fillfactor = 70,
            autovacuum_vacuum_scale_factor = 0.01,
            autovacuum_vacuum_threshold = 1000,
            autovacuum_analyze_scale_factor = 0.02,
            autovacuum_analyze_threshold = 1000
        );
        """

    /// Reverts to the server's defaults; `{schema}` stands for the schema's name, as in ``Migration/down``.
    package static let down = """
        ALTER TABLE {schema}.jobs RESET (
            fillfactor,
            autovacuum_vacuum_scale_factor,
            autovacuum_vacuum_threshold,
            autovacuum_analyze_scale_factor,
            autovacuum_analyze_threshold
        );
        """

    /// The settings as a migration with the version the caller gives.
    /// - Parameter version: The migration's number.
    /// - Returns: The migration.
    package static func migration(version: Int) -> Migration {
        Migration(version: version, name: "jobs table storage settings for churn", up: self.up, down: self.down)
    }
}
