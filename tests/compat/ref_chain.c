/* SPDX-License-Identifier: Apache-2.0 */
/*
 * compat-ref-chain DIR [PAGE [SEED [RAM]]] - write a chain of pairs the way
 * the original crate writes them (ref_writer.h), for the command-line
 * tests: DIR/g0.snap + g0.mem (full), g1 and g2 (diffs of random dirty
 * pages, some rewritten with zeros), and DIR/g<n>.img, the region at each
 * generation. RAM (default 2 MiB) need not be a whole number of pages.
 */
#include <squib/state.h>

#include "ref_writer.h"
#include "core/splitmix.h"

static int state(const char *dir, unsigned g)
{
	struct sq_microvm_state *vm;
	uint8_t *buf;
	size_t len;
	char p[4096];
	int rc;

	if (sq_x_state_demo_vcpus(g + 1, &vm) || sq_state_encode(vm, &buf, &len))
		return -1;
	snprintf(p, sizeof(p), "%s/g%u.snap", dir, g);
	rc = ref_write_bytes(p, buf, len);
	free(buf);
	sq_state_destroy(vm);
	return rc;
}

int main(int argc, char **argv)
{
	uint64_t page = argc > 2 ? strtoull(argv[2], NULL, 0) : 4096;
	uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 0) : 1;
	uint64_t ram_size = argc > 4 ? strtoull(argv[4], NULL, 0) : 2u << 20;
	uint64_t npages = page ? (ram_size + page - 1) / page : 0;
	uint8_t *ram = calloc(1, ram_size ? ram_size : 1), *dirty = calloc(1, npages / 8 + 1);
	char p[4096];

	if (argc < 2 || !ram || !dirty || !page || !ram_size || ram_size > (1u << 30)) {
		fprintf(stderr, "usage: compat-ref-chain DIR [PAGE [SEED [RAM]]]\n");
		return 2;
	}
	for (unsigned g = 0; g < 3; g++) {
		memset(dirty, 0, npages / 8 + 1);
		for (uint64_t i = 0; i < npages; i++) {
			if (g && sq_splitmix64(&seed) % 4)
				continue;
			dirty[i / 8] |= (uint8_t)(1u << (i % 8));
			int zero = sq_splitmix64(&seed) % 4 == 0;
			for (uint64_t o = i * page; o < (i + 1) * page && o < ram_size; o += 8) {
				uint64_t v = zero ? 0 : sq_splitmix64(&seed) | 1;
				memcpy(ram + o, &v, ram_size - o < 8 ? ram_size - o : 8);
			}
		}
		snprintf(p, sizeof(p), "%s/g%u.mem", argv[1], g);
		if ((g ? ref_write_diff(p, ram, ram_size, page, dirty, page)
		       : ref_write_full(p, ram, ram_size, page)) || state(argv[1], g))
			return 1;
		snprintf(p, sizeof(p), "%s/g%u.img", argv[1], g);
		if (ref_write_bytes(p, ram, ram_size))
			return 1;
	}
	free(dirty);
	free(ram);
	return 0;
}
