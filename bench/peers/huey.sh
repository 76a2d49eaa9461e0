#!/usr/bin/env bash
# Peer benchmark: Huey (pip `huey`, latest) on SQLite, no-op tasks; runs bench/peers/huey_noop.py
# for each durability variant and worker model, RUNS rounds, interleaved (round 1 of every
# variant, then round 2, ...). Each run is a fresh database in a new temp dir (honours TMPDIR).
#
# Measures: enqueue rate (one thread, one transaction per task) and drain rate (Huey consumer,
# in-process, from consumer start until every task has completed), plus drain CPU per task.
#
# Durability (details in huey_noop.py's header): Huey's SqliteStorage sets journal_mode=WAL and
# leaves `synchronous` at SQLite's default unless fsync=True (FULL) / fsync=False (OFF); the
# default build of SQLite (Debian's too) means WAL + synchronous=FULL: one fsync per commit, i.e.
# per enqueued task and per dequeued task.
#   default  Huey as shipped            WAL, synchronous=FULL here (printed per run)
#   full     SqliteHuey(fsync=True)     WAL, synchronous=FULL    ~ Baton store.sync = full
#   normal   PRAGMA synchronous=1       WAL, synchronous=NORMAL  ~ Baton store.sync = normal
#            (not a Huey option: a 3-line SqliteStorage subclass)
#   off      SqliteHuey(fsync=False)    WAL, synchronous=OFF     (no Baton equivalent)
#
# Sizes: the fsync-per-task variants (default, full) drain N_FSYNC tasks and time the enqueue of
# the first TIMED_ENQUEUE of them (the rest are filled untimed with synchronous=OFF, so a run does
# not spend minutes enqueueing); normal and off drain and enqueue N_FAST, so a run takes >= 5 s.
#
# Reproduce (from the repository root; needs python3 with venv, network to PyPI once):
#   bench/peers/huey.sh
#   RUNS=2 WORKERS="thread:8 process:2 thread:2" SYNCS="default normal" bench/peers/huey.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${VENV:-/tmp/peers-venv}
RUNS=${RUNS:-3}
SYNCS=${SYNCS:-default full normal off}
WORKERS=${WORKERS:-thread:8 process:2}
N_FSYNC=${N_FSYNC:-20000}
N_FAST=${N_FAST:-50000}
TIMED_ENQUEUE=${TIMED_ENQUEUE:-2000}

if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
if ! "$venv/bin/python" -c 'import huey' 2>/dev/null; then
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q huey
fi

echo "# $(date -u +%FT%TZ) $(nproc) CPUs, $("$venv/bin/python" --version)"
for round in $(seq "$RUNS"); do
  echo "## round $round: $(uptime)"
  for sync in $SYNCS; do
    case $sync in
      default|full) n=$N_FSYNC; timed=$TIMED_ENQUEUE ;;
      *)            n=$N_FAST;  timed=$N_FAST ;;
    esac
    for w in $WORKERS; do
      "$venv/bin/python" "$here/huey_noop.py" --tasks "$n" --timed-enqueue "$timed" \
        --worker-type "${w%%:*}" --workers "${w##*:}" --sync "$sync"
    done
  done
done
echo "# end: $(uptime)"
