/*
 * Unit tests of the shared connection counts: when a worker is crowded,
 * and that an entry taken over by another process is left alone.
 */
#include <criterion/criterion.h>
#include <unistd.h>

#include "slotd.h"

static void
hold(int index, int conns)
{
	balance_join(index);
	balance_add(conns);
}

Test(balance, crowded_only_clearly_above_the_least)
{
	cr_assert_eq(balance_init(), 0);
	hold(1, 40);
	hold(2, 5);
	hold(0, 7);
	cr_assert_not(balance_crowded(3));	/* 7 <= 5 + 2 */
	balance_add(1);
	cr_assert(balance_crowded(3));		/* 8 > 5 + 2 */
	/* Entries beyond the generation's workers do not count. */
	cr_assert_not(balance_crowded(2));	/* 8 <= 40 + 2 + 2 */
	/* Nor does an entry whose worker has gone. */
	balance_gone(2, getpid());
	cr_assert_not(balance_crowded(3));
	/* The slack grows with the load: one connection in sixteen. */
	hold(1, 64);
	hold(2, 64);
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

Test(balance, a_gone_entry_is_not_counted_by_its_old_owner)
{
	cr_assert_eq(balance_init(), 0);
	hold(1, 3);
	hold(0, 9);
	balance_gone(0, getpid());
	balance_add(1);				/* no longer its entry */
	cr_assert_not(balance_crowded(2));
	/* Gone for another pid leaves the entry alone. */
	hold(0, 9);
	balance_gone(0, getpid() + 1);
	cr_assert(balance_crowded(2));
}
