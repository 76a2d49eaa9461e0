#!/usr/bin/env bash
# Peer benchmark: Snakemake (pip `snakemake`, latest) on the DAG of
# `baton bench pipeline --stages N` (one rule per stage, see dag_snakefile.py).
#
# Measures, with hyperfine, in a fresh temp dir (honours TMPDIR; the filesystem is printed):
#   1. full run:    `snakemake --cores 2 -q all all` with every output removed first
#                   (--prepare 'rm -rf out'; .snakemake metadata stays, as for a user's rerun
#                   after a clean), RUNS_FULL runs (default 5) after 1 warm-up;
#   2. no-op rerun: the same command, everything up to date, -N --warmup 3 -r RUNS_NOOP
#                   (default 10).
# Each job: awk 'END { print NR }' INPUTS > OUTPUT through Snakemake's shell() (bash -c).
#
# Durability: none. Snakemake's default "file" persistence backend writes one JSON metadata
# file per output under .snakemake/metadata without fsync; outputs are not fsynced either.
#
# Reproduce (from the repository root; needs python3 with venv, network to PyPI once):
#   bench/peers/snakemake.sh 500
set -euo pipefail
stages=${1:?usage: snakemake.sh STAGES}
here=$(cd "$(dirname "$0")" && pwd)
venv=${VENV:-/tmp/peers-venv}
RUNS_FULL=${RUNS_FULL:-5}
RUNS_NOOP=${RUNS_NOOP:-10}

if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
if [ ! -x "$venv/bin/snakemake" ]; then
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q snakemake
fi

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 "$here/dag_snakefile.py" "$stages" "$dir"
cd "$dir"
cmd="$venv/bin/snakemake --cores 2 -q all all"
echo "# snakemake $("$venv/bin/snakemake" --version) peer: $stages stages, dir $dir ($(df -T . | awk 'NR==2 {print $2}'))"
echo "# load before: $(uptime)"

$cmd >/dev/null 2>&1   # build once, then check every output is there
test "$(ls out | wc -l)" -eq "$stages"

hyperfine -N --warmup 1 -r "$RUNS_FULL" --prepare 'rm -rf out' \
  --command-name "snakemake --cores 2, full run, $stages stages" "$cmd"
hyperfine -N --warmup 3 -r "$RUNS_NOOP" \
  --command-name "snakemake --cores 2, no-op rerun, $stages stages" "$cmd"
echo "# load after: $(uptime)"
