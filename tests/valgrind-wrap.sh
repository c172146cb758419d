#!/bin/sh
# Test wrapper of the 'valgrind' setup: Check executables run under
# valgrind themselves; Python integration tests run normally and put
# valgrind in front of every gispipe they start (GISPIPE_WRAPPER).
here=$(dirname "$0")
vg="valgrind --quiet --error-exitcode=101 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect --track-fds=no --num-callers=16 --suppressions=$here/valgrind.supp"
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
