/*
 * slot_table: the shared-memory cache of the slots table.
 *
 * One POSIX shared-memory segment holds fixed-size slot records, an id hash
 * and a day index.  Readers take no lock: each record is guarded by its own
 * seqlock and the day index is double-buffered behind a switch counter.
 * Writers, from any process, serialise on a lock stamped with their pid; a
 * writer that dies holding it is detected and the table is repaired.
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

/* Lock-free reads. */
int			 slot_table_get(struct slot_table *, int64_t id,
			    struct slot *out);
size_t			 slot_table_range(struct slot_table *, int64_t from,
			    int64_t to, struct slot *out, size_t max);
size_t			 slot_table_range_grow(struct slot_table *,
			    int64_t from, int64_t to, struct slot **buf,
			    size_t *cap);
/* Grows whenever a slot starting in [from, to) changes, or the set of
 * slots does: an ETag for that range. */
uint64_t		 slot_table_changes(struct slot_table *, int64_t from,
			    int64_t to);
void			 slot_table_stats(struct slot_table *,
			    struct slot_table_stats *);
int			 slot_table_flag(struct slot_table *, enum slot_table_flag);

/* Writes; each takes and releases the writer lock. */
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
