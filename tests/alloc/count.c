/*
 * A counting allocator for the tests: preloaded (LD_PRELOAD) into slotd,
 * it counts every malloc, calloc, realloc and aligned allocation of each
 * process in a file of its own, "$SLOTD_ALLOC_COUNT.<pid>", mapped
 * shared, so that a test reads a worker's count while it runs.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

extern void	*__libc_malloc(size_t);
extern void	*__libc_calloc(size_t, size_t);
extern void	*__libc_realloc(void *, size_t);
extern void	*__libc_memalign(size_t, size_t);

static uint64_t	*counter;
static pid_t	 counter_pid;
static int	 counting;

/* Count one allocation in this process's file (made on first use, and
 * again in a forked child, which inherits its parent's mapping). */
static void
count(void)
{
	const char *base;
	char path[4096];
	pid_t pid;
	void *p;
	int fd;

	if (counting)
		return;
	counting = 1;
	pid = getpid();
	if (pid != counter_pid && (base = getenv("SLOTD_ALLOC_COUNT")) !=
	    NULL) {
		snprintf(path, sizeof(path), "%s.%d", base, (int)pid);
		if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) != -1) {
			if (ftruncate(fd, sizeof(*counter)) == 0 &&
			    (p = mmap(NULL, sizeof(*counter), PROT_READ |
			    PROT_WRITE, MAP_SHARED, fd, 0)) != MAP_FAILED) {
				counter = p;
				counter_pid = pid;
			}
			close(fd);
		}
	}
	if (counter != NULL && counter_pid == pid)
		__atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
	counting = 0;
}

void *
malloc(size_t n)
{
	count();
	return __libc_malloc(n);
}

void *
calloc(size_t n, size_t size)
{
	count();
	return __libc_calloc(n, size);
}

void *
realloc(void *p, size_t n)
{
	count();
	return __libc_realloc(p, n);
}

void *
memalign(size_t align, size_t n)
{
	count();
	return __libc_memalign(align, n);
}

int
posix_memalign(void **out, size_t align, size_t n)
{
	count();
	*out = __libc_memalign(align, n);
	return *out != NULL ? 0 : 12;
}

void *
aligned_alloc(size_t align, size_t n)
{
	count();
	return __libc_memalign(align, n);
}
