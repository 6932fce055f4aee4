/*
 * slot_table: the shared-memory cache of the slots table.
 *
 * One POSIX shared-memory segment holds fixed-size slot records, an id hash
 * and two sorted indexes: by calendar (calendar, start, id) and by start
 * (start, calendar, id).  Readers take no lock: each record is guarded by
 * its own seqlock and the indexes are double-buffered behind a switch
 * counter.  Writers, from any process, serialise on a lock stamped with
 * their pid; a writer that dies holding it is detected and the table is
 * repaired.  The parts: slot_table.c (segment, lock, writes), slot_record.c
 * (records, id hash), slot_index.c (indexes, ranges), slot_counter.c (tags).
 */
#ifndef SLOT_TABLE_H
#define SLOT_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct slot {
	int64_t		id;
	int64_t		calendar_id;
	int64_t		start;		/* UTC seconds */
	int64_t		end;		/* UTC seconds */
	int64_t		version;
	int32_t		capacity;
	int32_t		booked;		/* seats taken by appointments and holds */
};

struct slot_table;

enum slot_apply_result {
	SLOT_UNCHANGED = 0,		/* same or older version */
	SLOT_UPDATED,
	SLOT_INSERTED,
	SLOT_TABLE_FULL			/* no free record for a new slot */
};

/* Instance-wide flags kept in the segment. */
enum slot_table_flag {
	SLOT_FLAG_LOADED,		/* the first full load completed */
	SLOT_FLAG_DB_OK,		/* the syncer is connected */
	SLOT_FLAG_RESYNC,		/* a repair asks the syncer for a full reload */
	SLOT_FLAG_COUNT
};

struct slot_table_stats {
	uint32_t	max_slots;
	uint32_t	live;
	uint64_t	epoch;
	uint64_t	changes;
	uint32_t	repairs;
	pid_t		owner;		/* the process that created the segment */
};

/* Replace a stale segment of that name and map a new, empty one.  Fails if a
 * live process still owns a segment of that name. */
struct slot_table	*slot_table_create(const char *name, uint32_t max_slots);
/* Map an existing segment read-only (for inspection). */
struct slot_table	*slot_table_attach(const char *name);
void			 slot_table_close(struct slot_table *);
int			 slot_table_unlink(const char *name);
size_t			 slot_table_segment_size(uint32_t max_slots);

/*
 * Lock-free reads.  A range returns how many live slots start in [from, to)
 * and copies at most max of them; a _grow variant reallocates *buf until
 * all fit ((size_t)-1 when memory runs out).  Both orderings are kept, so
 * each range costs O(log n + k) for its k slots, whatever n and however
 * many calendars.  A slot inserted or moved shows in ranges from the next
 * slot_table_publish on (a removed one leaves them at once); slot_table_get
 * sees every change at once.
 */
int			 slot_table_get(struct slot_table *, int64_t id,
			    struct slot *out);
/* All calendars, by start, then calendar id, then id. */
size_t			 slot_table_range(struct slot_table *, int64_t from,
			    int64_t to, struct slot *out, size_t max);
size_t			 slot_table_range_grow(struct slot_table *,
			    int64_t from, int64_t to, struct slot **buf,
			    size_t *cap);
/* One calendar, by start, then id. */
size_t			 slot_table_calendar_range(struct slot_table *,
			    int64_t calendar_id, int64_t from, int64_t to,
			    struct slot *out, size_t max);
size_t			 slot_table_calendar_range_grow(struct slot_table *,
			    int64_t calendar_id, int64_t from, int64_t to,
			    struct slot **buf, size_t *cap);
/*
 * ETags.  The value changes whenever a slot starting in [from, to) (of
 * calendar_id) is inserted, updated or removed, on every full reload and
 * on every repair; read it before the slots it tags.  A collision of the
 * calendar-hour hash, or a range longer than the counters (2^14 hours for
 * a calendar, 2^16 for all), may move it when nothing of it changed, never
 * the other way round.  Cost: one load per hour of the range (a calendar's
 * hours come eight to a cache line).
 */
uint64_t		 slot_table_changes(struct slot_table *, int64_t from,
			    int64_t to);
uint64_t		 slot_table_calendar_changes(struct slot_table *,
			    int64_t calendar_id, int64_t from, int64_t to);
void			 slot_table_stats(struct slot_table *,
			    struct slot_table_stats *);
int			 slot_table_flag(struct slot_table *, enum slot_table_flag);

/*
 * Writes; each takes and releases the writer lock.  A seat count changes in
 * place.  slot_table_publish merges the inserts, removals and moves since
 * the last one into the indexes: a copy of 8 bytes a slot plus a binary
 * search a change, no sort.  More changes than about a sixteenth of the
 * slots (a first load) or a repair sort everything again: O(n log n).
 */
#define SLOT_APPLY_LOAD		1	/* a full reload: any other version wins */
#define SLOT_APPLY_UPDATE_ONLY	2	/* never insert (a row we only changed) */
enum slot_apply_result	 slot_table_apply(struct slot_table *,
			    const struct slot *, int flags);
int			 slot_table_remove(struct slot_table *, int64_t id);
void			 slot_table_publish(struct slot_table *);
void			 slot_table_set_flag(struct slot_table *,
			    enum slot_table_flag, int);

/* Full reload: begin, apply every row, then sweep drops what was not seen. */
void			 slot_table_load_begin(struct slot_table *);
size_t			 slot_table_load_sweep(struct slot_table *);

/* Called by the parent when a child exits: if it held the writer lock, take
 * the lock over and repair the table.  Returns 1 if a repair was made. */
int			 slot_table_release_dead(struct slot_table *, pid_t);

#endif
