#!/usr/bin/env bash
# Peer benchmark: GNU make on the DAG of `baton bench pipeline --stages N`.
#
# Measures, with hyperfine, in a fresh temp dir (honours TMPDIR; the filesystem is printed):
#   1. full run:    `make -j2` with every output removed first (--prepare 'rm -rf out'),
#                   10 runs after 1 warm-up;
#   2. no-op rerun: `make -j2` with everything up to date, -N --warmup 3 -r 30
#                   (the same settings as Baton's "no-op rerun as a user runs it").
# Each rule: sh -c 'mkdir -p DIR && awk "END { print NR }" INPUTS > OUT' (see dag_makefile.py).
#
# Durability: none. make keeps no database; up-to-dateness is file mtimes, nothing is fsynced.
# Compare with Baton's `store.sync = normal` (SQLite WAL, synchronous=NORMAL) as the closest.
#
# Reproduce (from the repository root; needs python3, GNU make, hyperfine):
#   bench/peers/dag_make.sh 500
#   TMPDIR=/dev/shm bench/peers/dag_make.sh 500     # same on tmpfs
set -euo pipefail
stages=${1:?usage: dag_make.sh STAGES}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

python3 "$here/dag_makefile.py" "$stages" "$dir"
cd "$dir"
echo "# make peer: $stages stages, $(make --version | head -1), dir $dir ($(df -T . | awk 'NR==2 {print $2}'))"
echo "# load before: $(uptime)"

make -j2 -s >/dev/null   # build once so the check below sees the right outputs
test "$(ls out | wc -l)" -eq "$stages"

hyperfine -N --warmup 1 -r 10 --prepare 'rm -rf out' \
  --command-name "make -j2, full run, $stages stages" 'make -j2 -s'
hyperfine -N --warmup 3 -r 30 \
  --command-name "make -j2, no-op rerun, $stages stages" 'make -j2 -s'
echo "# load after: $(uptime)"
