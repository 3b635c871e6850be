# Ops hot paths: cron next-fire, run-window checks (the claim query calls one
# per passed-over task), a scheduler pass, a metrics scrape (from scratch, as
# `drudge metrics` does, and by a server with no new steps), a status frame.
set -euo pipefail
"$BUILD/tests/ops_bench" "$TMP/ops.db"
rm -rf "$TMP"
