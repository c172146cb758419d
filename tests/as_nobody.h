/*
 * as_nobody.h - a check that must run without privileges, when the tests
 * run as root (CI does): root reads and writes anything, so permission
 * paths need another user.
 */
#ifndef GISPIPE_TESTS_AS_NOBODY_H
#define GISPIPE_TESTS_AS_NOBODY_H

#include <grp.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* fn(ctx) as it is when not root, else in a child that has become nobody
 * (uid and gid 65534, no groups).  Returns fn's result (0: as expected),
 * or -1 when the child could not run or died.  fn must not use ck_assert:
 * in a child, a failed check would go on running the suite there. */
static inline int as_nobody(int (*fn)(const void *ctx), const void *ctx)
{
	int status;
	pid_t pid;

	if (geteuid() != 0)
		return fn(ctx);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
		    setresuid(65534, 65534, 65534) != 0)
			_exit(2);
		_exit(fn(ctx));
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

#endif
