/*
 * slot_table_int.h: the segment layout and the calls between the parts of
 * the slot table; for shm/ only (users of the library see slot_table.h).
 *
 * Segment layout: header, records[max_slots], hash[hash_size] (record index
 * + 1, 0 = empty), index[ordering][2][max_slots] (record indices: by
 * calendar, start, id and by start, calendar, id, each double-buffered),
 * stack[max_slots] (free records from the bottom, dead ones from the top),
 * journal[max_slots] (records inserted since the last publish), hour
 * counters[CHANGE_BUCKETS], calendar-hour counters[cal_mask + 1].
 *
 * Concurrency:
 *  - records: per-record seqlock; readers retry while odd or changed;
 *  - hash: one seqlock (hash_seq) around each insert or backward-shift delete;
 *  - indexes: the writer brings the inactive buffers up to date and bumps
 *    index_seq; readers retry when index_seq moved while they scanned;
 *  - a record's calendar and start never change while an index holds it (a
 *    slot that moves gets a new record), so the indexes stay ordered;
 *  - dead records return to the free stack only after an index switch, so
 *    a reader of the old index sees a reused record only if it will retry;
 *  - writers serialise on `lock`, which holds the owner's pid.  A waiter that
 *    finds the owner dead, or the parent reaping it, takes the lock over and
 *    rebuilds hash, indexes and stacks from the records (repair).
 */
#ifndef SLOT_TABLE_INT_H
#define SLOT_TABLE_INT_H

#include "slot_table.h"

#define SLOT_TABLE_MAGIC	0x736c6f7464746231ULL	/* "slotdtb1" */
#define SLOT_TABLE_LAYOUT	2	/* 2: indexed and counted by calendar */
#define CHANGE_BUCKETS		(1u << 16)		/* hours, ~7.5 years */
#define CAL_BUCKETS_MIN		(1u << 16)
#define CAL_GROUP		8	/* hours of a calendar in one cache line */
#define HOUR			3600

enum record_state {
	RECORD_FREE = 0,
	RECORD_LIVE,
	RECORD_DEAD			/* removed; freed at the next publish */
};

enum index_order {
	BY_CALENDAR = 0,		/* calendar, start, id */
	BY_START,			/* start, calendar, id */
	INDEX_ORDERS
};

struct record {
	uint32_t	seq;
	uint32_t	state;
	int64_t		id;
	int64_t		calendar_id;
	int64_t		start;
	int64_t		end;
	int64_t		version;
	int32_t		capacity;
	int32_t		booked;
	uint32_t	load_mark;
	uint32_t	pad;
};

struct header {
	uint64_t	magic;
	uint32_t	layout;
	uint32_t	max_slots;
	uint32_t	hash_mask;
	uint32_t	lock;		/* writer's pid, 0 when free */
	int32_t		writing;	/* record under write, -1 if none */
	uint32_t	hash_seq;
	uint32_t	index_seq;
	uint32_t	index_len[2];
	uint32_t	live;
	uint32_t	free_top;
	uint32_t	used;		/* records ever handed out */
	uint32_t	dead;		/* records waiting for publish */
	uint32_t	dirty;		/* the indexes need a publish */
	uint32_t	load_mark;
	uint32_t	repairs;
	uint32_t	flags[SLOT_FLAG_COUNT];
	pid_t		owner;
	/* Everything above keeps its place in every layout: segment_in_use
	 * reads the owner of a segment of any layout. */
	uint32_t	journal_len;	/* records inserted since the last publish */
	uint32_t	cal_mask;	/* calendar-hour counters - 1 */
	uint32_t	owed;		/* INDEX_ flags of a publish that failed */
	uint64_t	epoch;
	uint64_t	changes;
	uint64_t	resets;		/* full reloads and repairs: all tags move */
	uint64_t	records_off;
	uint64_t	hash_off;
	uint64_t	index_off[INDEX_ORDERS][2];
	uint64_t	stack_off;
	uint64_t	journal_off;
	uint64_t	counters_off;
	uint64_t	cal_counters_off;
};

struct slot_table {
	struct header	*h;
	struct record	*rec;
	uint32_t	*hash;
	uint32_t	*index[INDEX_ORDERS][2];
	uint32_t	*stack;
	uint32_t	*journal;
	uint64_t	*counters;
	uint64_t	*cal_counters;
	size_t		 size;
	int		 readonly;
};

#define LOAD(p)		__atomic_load_n((p), __ATOMIC_RELAXED)
#define LOAD_ACQ(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define STORE_REL(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* slot_record.c: records under their seqlocks and the id hash. */
void		record_read(const struct record *, struct slot *, uint32_t *);
void		record_write_locked(struct slot_table *, uint32_t,
		    const struct slot *, uint32_t);
void		cpu_relax(void);
int64_t		hash_find(struct slot_table *, int64_t);
void		hash_begin(struct slot_table *);
void		hash_end(struct slot_table *);
void		hash_insert_locked(struct slot_table *, int64_t, uint32_t);
void		hash_delete_locked(struct slot_table *, int64_t);

/* slot_index.c: the two orderings and their publication. */
#define INDEX_REBUILD	1	/* sort everything again from the records */
#define INDEX_RESET	2	/* move every change tag (reload, repair) */
void		index_publish_locked(struct slot_table *, int);

/* slot_counter.c: change counters. */
size_t		counter_buckets_for(uint32_t);
void		counter_bump(struct slot_table *, int64_t, int64_t);

#endif
