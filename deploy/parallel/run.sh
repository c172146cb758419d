#!/bin/sh
# gispipe on every core of one machine with GNU parallel: N shards of a
# pipeline side by side, then the merge.
#
#   deploy/parallel/run.sh shard.yaml merge.yaml [N]
#
# N defaults to the number of cores.  shard.yaml writes its part to a path
# with {shard} (out/part-{shard}.gpkg), merge.yaml reads the parts back with
# a glob (out/part-*.gpkg) and writes one output.  The first shard that
# fails stops the others (--halt now,fail=1), and then there is no merge:
# the exit status is the failed shard's.  GISPIPE names the binary when it
# is not on PATH.
set -eu
[ $# -ge 2 ] || { echo "usage: run.sh SHARD.yaml MERGE.yaml [N]" >&2; exit 64; }
gispipe=${GISPIPE:-gispipe}
n=${3:-$(nproc)}
seq 0 $((n - 1)) |
	parallel --will-cite --halt now,fail=1 -q "$gispipe" run "$1" -q --shard "{}/$n"
exec "$gispipe" run "$2" -q
