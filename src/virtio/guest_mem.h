/*
 * A device model's view of guest memory: a few regions of guest-physical
 * space, each mapped somewhere in this process.  In the VMM that is guest
 * RAM (plus dataports); in an isolated backend it is only the dataport; in
 * unit tests and fuzzers it is a malloc'd buffer.  Device models reach guest
 * memory only through guest_mem_ptr(), which checks the whole range.
 */
#ifndef CAPVM_GUEST_MEM_H
#define CAPVM_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>

#define GUEST_MEM_MAX_REGIONS 8

struct guest_mem_region {
	uint64_t gpa;   /* guest-physical start */
	uint64_t size;  /* bytes */
	uint8_t *host;  /* where it is mapped here */
};

struct guest_mem {
	int nr_regions;
	struct guest_mem_region regions[GUEST_MEM_MAX_REGIONS];
};

/*
 * Host pointer for [gpa, gpa+len) if the whole range lies inside one region,
 * else NULL.  len 0 is allowed (returns a pointer if gpa is inside or at the
 * end of a region).  Overflow-safe for any gpa/len the guest can write.
 */
static inline void *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	for (int i = 0; i < m->nr_regions; i++) {
		const struct guest_mem_region *r = &m->regions[i];
		if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
			return r->host + (gpa - r->gpa);
	}
	return NULL;
}

/* Add a region; returns 0 or -1 if the table is full. */
static inline int guest_mem_add(struct guest_mem *m, uint64_t gpa, uint64_t size, void *host)
{
	if (m->nr_regions >= GUEST_MEM_MAX_REGIONS)
		return -1;
	m->regions[m->nr_regions].gpa = gpa;
	m->regions[m->nr_regions].size = size;
	m->regions[m->nr_regions].host = host;
	m->nr_regions++;
	return 0;
}

#endif
