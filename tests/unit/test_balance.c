/*
 * Unit tests of the shared connection counts: when a worker is crowded,
 * and that an entry taken over by another process is left alone.  The
 * other workers are children that take an entry and exit.
 */
#include <sys/wait.h>

#include <criterion/criterion.h>
#include <unistd.h>

#include "slotd.h"

#define NO_SUCH_PID	4194305		/* above Linux's pid_max */

static void
hold(int index, int conns)
{
	balance_join(index);
	balance_add(conns);
}

/* Another worker's entry: a child's, left behind when it exits. */
static pid_t
other(int index, int conns)
{
	pid_t pid = fork();

	cr_assert_neq(pid, -1);
	if (pid == 0) {
		hold(index, conns);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
	return pid;
}

Test(balance, crowded_only_clearly_above_the_least)
{
	pid_t light;

	cr_assert_eq(balance_init(), 0);
	other(1, 40);
	light = other(2, 5);
	hold(0, 7);
	cr_assert_not(balance_crowded(3));	/* 7 <= 5 + 2 */
	balance_add(1);
	cr_assert(balance_crowded(3));		/* 8 > 5 + 2 */
	/* Entries beyond the generation's workers do not count. */
	cr_assert_not(balance_crowded(2));	/* 8 <= 40 + 2 + 2 */
	/* Nor does the entry of a worker that has gone. */
	balance_gone(light);
	cr_assert_not(balance_crowded(3));
	/* The slack grows with the load: one connection in sixteen. */
	other(1, 64);
	other(2, 64);
	hold(0, 64 + 2 + 4);
	cr_assert_not(balance_crowded(3));
	balance_add(1);
	cr_assert(balance_crowded(3));
}

Test(balance, alone_is_never_crowded)
{
	cr_assert_eq(balance_init(), 0);
	hold(0, 1000);
	cr_assert_not(balance_crowded(1));
}

Test(balance, an_entry_taken_over_is_left_alone)
{
	cr_assert_eq(balance_init(), 0);
	other(1, 3);
	hold(0, 9);
	cr_assert(balance_crowded(2));
	/* Gone for a pid that holds nothing changes nothing. */
	balance_gone(NO_SUCH_PID);
	cr_assert(balance_crowded(2));
	/* A successor takes entry 0: this process no longer counts there,
	 * and its leaving does not free the successor's entry. */
	other(0, 1);
	balance_add(20);
	cr_assert_not(balance_crowded(2));
	balance_gone(getpid());
	hold(1, 9);
	cr_assert(balance_crowded(2));		/* 9 > 1 + 2 */
}
