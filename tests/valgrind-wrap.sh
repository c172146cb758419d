#!/bin/sh
# Test wrapper of the 'valgrind' setup: Check executables run under
# valgrind themselves; Python integration tests run normally and put
# valgrind in front of every gispipe they start (GISPIPE_WRAPPER).
# Stacks of 12 frames, and only where a block was allocated (a read after
# a free is still an error, reported with where the block came from; ASan
# says where it went): each costs valgrind at every malloc and free, about
# 7% of the stage's time in all.
here=$(dirname "$0")
vg="valgrind --quiet --error-exitcode=101 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect --track-fds=no --num-callers=12 --keep-stacktraces=alloc --suppressions=$here/valgrind.supp"
case "$(basename "$1")" in
python*)
	GISPIPE_WRAPPER="$vg"
	export GISPIPE_WRAPPER
	exec "$@"
	;;
*)
	exec $vg "$@"
	;;
esac
