/*
 * dump: `slotd dump` prints the shared slot table of a running instance,
 * read-only and without locks, for debugging.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "slotd.h"

int
dump_table(const struct config *conf, FILE *fp)
{
	struct slot_table_stats st;
	struct slot_table *t;
	struct slot *slots = NULL;
	size_t n, cap = 0, i;
	char start[40], end[40];

	if ((t = slot_table_attach(conf->shm_name)) == NULL) {
		log_warn("shared memory %s (is slotd running with this "
		    "config?)", conf->shm_name);
		return -1;
	}
	slot_table_stats(t, &st);
	if (tz_use(conf->timezone) == -1)
		tz_use("UTC");
	if ((n = slot_table_range_grow(t, INT64_MIN, INT64_MAX, &slots,
	    &cap)) == (size_t)-1)
		fatalx("out of memory");
	fprintf(fp, "# table %s: %u of %u slots, %" PRIu64 " changes, %u "
	    "repairs, loaded %s, database %s, master pid %d\n",
	    conf->shm_name, st.live, st.max_slots, st.changes, st.repairs,
	    slot_table_flag(t, SLOT_FLAG_LOADED) ? "yes" : "no",
	    slot_table_flag(t, SLOT_FLAG_DB_OK) ? "up" : "down",
	    (int)st.owner);
	fprintf(fp, "# id calendar start end capacity booked version\n");
	for (i = 0; i < n; i++) {
		tz_format_rfc3339(slots[i].start, start, sizeof(start));
		tz_format_rfc3339(slots[i].end, end, sizeof(end));
		fprintf(fp, "%" PRId64 " %" PRId64 " %s %s %d %d %" PRId64 "\n",
		    slots[i].id, slots[i].calendar_id, start, end,
		    slots[i].capacity, slots[i].booked, slots[i].version);
	}
	free(slots);
	slot_table_close(t);
	return 0;
}
