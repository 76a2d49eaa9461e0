#!/usr/bin/env python3
"""Peer benchmark: Huey on SQLite (SqliteHuey), N no-op tasks.

What it measures, in one process, on a fresh database in a new temp dir (honours TMPDIR):
  1. enqueue: N calls of a no-op task from one thread (one SQLite transaction each), or
              only the first K with --timed-enqueue K (the rest filled untimed);
  2. drain:   a Huey consumer (created in-process with huey.create_consumer, periodic
              tasks off) with W workers of type thread or process; the clock runs from just
              before consumer.start() until N tasks have completed. Completions are counted
              by a SIGNAL_COMPLETE handler into a shared-memory counter (no database
              access, works across forked workers), polled every 5 ms;
  3. CPU of the drain (user + system of this process and its reaped worker processes,
              getrusage), per task.
The task returns None, so with Huey's defaults (store_none=False) it stores no result.
Per task the consumer commits one write transaction (the dequeue: BEGIN EXCLUSIVE; SELECT;
DELETE; COMMIT) plus read-only ones (the revoke check, a pop of the revoke key that deletes
nothing); the enqueue is one write transaction per task.

Durability (read from huey/storage.py, SqliteStorage, huey 3.5.x):
  SqliteStorage(filename, cache_mb=8, fsync=None, journal_mode='wal', timeout=5, ...)
  opens the database in autocommit mode, sets `PRAGMA journal_mode="wal"` and
  `PRAGMA cache_size=-8000`, and sets `PRAGMA synchronous` ONLY if fsync is not None:
  fsync=True -> synchronous=2 (FULL), fsync=False -> synchronous=0 (OFF). With the
  default fsync=None Huey leaves SQLite's compiled-in default, which on Debian's
  libsqlite3 (and SQLite's own default) is DEFAULT_WAL_SYNCHRONOUS=2, i.e. FULL: the WAL
  is fsynced at every commit, so every enqueue and every dequeue is one fsync.
  Huey has no option for synchronous=NORMAL; `--sync normal` here subclasses
  SqliteStorage to issue `PRAGMA synchronous=1` on each connection (the only change).
  --sync default   Huey as shipped (fsync=None; the effective value is printed)
  --sync full      fsync=True  -> WAL, synchronous=FULL   (compare: Baton store.sync = full)
  --sync normal    subclass    -> WAL, synchronous=NORMAL (compare: Baton store.sync = normal)
  --sync off       fsync=False -> WAL, synchronous=OFF    (no Baton equivalent)
  Baton groups many jobs per commit (one fsync per group commit at `full`); Huey commits
  per task.

Reproduce (bench/peers/huey.sh creates /tmp/peers-venv with huey and runs the variants):
  /tmp/peers-venv/bin/python bench/peers/huey_noop.py --tasks 20000 --workers 8 \
      --worker-type thread --sync default
"""
import argparse
import multiprocessing
import os
import resource
import shutil
import sqlite3
import sys
import tempfile
import time

import huey as huey_pkg
from huey import SqliteHuey
from huey.signals import SIGNAL_COMPLETE
from huey.storage import SqliteStorage

SYNC_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


class SqliteStorageNormal(SqliteStorage):
    """Huey's SqliteStorage with PRAGMA synchronous=NORMAL on every connection."""

    def _create_connection(self):
        conn = super()._create_connection()
        conn.execute("pragma synchronous=1")
        return conn


def make_huey(sync, filename):
    if sync == "default":
        return SqliteHuey("bench", filename=filename)
    if sync == "full":
        return SqliteHuey("bench", filename=filename, fsync=True)
    if sync == "off":
        return SqliteHuey("bench", filename=filename, fsync=False)
    if sync == "normal":
        return SqliteHuey("bench", filename=filename, storage_class=SqliteStorageNormal)
    raise ValueError(sync)


def cpu_seconds():
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=20000)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--worker-type", choices=["thread", "process"], default="thread")
    ap.add_argument("--sync", choices=["default", "full", "normal", "off"], default="default")
    ap.add_argument("--timed-enqueue", type=int, default=None, metavar="K",
                    help="time the enqueue of the first K tasks only (default: all N); the "
                    "other N-K are put on the queue, untimed, through a second SqliteHuey "
                    "on the same file with fsync=False (synchronous=OFF), closed before the "
                    "drain, so slow-fsync variants fill the queue quickly")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="huey-bench-")
    filename = os.path.join(tmp, "huey.db")
    huey = make_huey(args.sync, filename)

    # Shared-memory counter (inherited by forked workers); the lock makes += atomic.
    done = multiprocessing.get_context("fork").Value("q", 0)

    @huey.task()
    def noop():
        return None

    @huey.signal(SIGNAL_COMPLETE)
    def on_complete(signal, task):
        with done.get_lock():
            done.value += 1

    conn = huey.storage.conn
    journal = conn.execute("pragma journal_mode").fetchone()[0]
    synchronous = conn.execute("pragma synchronous").fetchone()[0]
    fs = os.popen("df -T %s | awk 'NR==2 {print $2}'" % tmp).read().strip()
    print(
        "# huey %s, SQLite %s, --sync %s: journal_mode=%s synchronous=%d (%s); db on %s (%s)"
        % (huey_pkg.__version__, sqlite3.sqlite_version, args.sync, journal, synchronous,
           SYNC_NAMES.get(synchronous, "?"), tmp, fs)
    )

    timed = args.tasks if args.timed_enqueue is None else min(args.timed_enqueue, args.tasks)
    t0 = time.perf_counter()
    for _ in range(timed):
        noop()
    enqueue_s = time.perf_counter() - t0
    if timed < args.tasks:
        filler = SqliteStorage("bench", filename=filename, fsync=False)
        for _ in range(args.tasks - timed):
            filler.enqueue(huey.serialize_task(noop.s()))  # what noop() enqueues
        filler.close()
    assert huey.pending_count() == args.tasks

    consumer = huey.create_consumer(
        workers=args.workers,
        worker_type=args.worker_type,
        periodic=False,
        check_worker_health=False,
    )
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    consumer.start()
    while done.value < args.tasks:
        time.sleep(0.005)
    drain_s = time.perf_counter() - t0
    consumer.stop(graceful=True)  # joins threads / reaps worker processes
    cpu = cpu_seconds() - cpu0
    left = huey.pending_count()

    print(
        "huey sync=%s %s x%d: enqueue %d in %.2f s = %.0f tasks/s; "
        "drain %d in %.2f s = %.0f tasks/s; drain CPU %.0f us/task; pending after %d"
        % (args.sync, args.worker_type, args.workers, timed, enqueue_s,
           timed / enqueue_s, done.value, drain_s, args.tasks / drain_s,
           cpu / args.tasks * 1e6, left)
    )
    sys.stdout.flush()
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
