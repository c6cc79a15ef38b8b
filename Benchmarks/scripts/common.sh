# Sourced by the benchmark scripts here: the cluster they run against, psql for it, and the
# jobkit-bench executable (built with swift build -c release unless BIN names one).
#
# Environment (all optional):
#   PGHOST_ PGPORT PGUSER_   the cluster (default 127.0.0.1, 5432, postgres)
#   PG                       the folder of psql (default: psql on PATH)
#   BIN                      the jobkit-bench executable
PGHOST_=${PGHOST_:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER_=${PGUSER_:-postgres}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PACKAGE=$(cd "$HERE/.." && pwd)
PSQL="${PG:+$PG/}psql -X -h $PGHOST_ -p $PGPORT -U $PGUSER_ -d postgres -qAt -v ON_ERROR_STOP=1"

if [ -z "${BIN:-}" ]; then
  swift build -c release --package-path "$PACKAGE" --product jobkit-bench >&2 || exit 1
  BIN="$(swift build -c release --package-path "$PACKAGE" --show-bin-path)/jobkit-bench"
fi
[ -x "$BIN" ] || { echo "no jobkit-bench at $BIN" >&2; exit 1; }
