/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/abi/old_client.c - a program compiled against the public headers of
 * the first published layout (tests/abi/v2.0/include, commit a51911d) and
 * linked against the library built from this tree. It tracks a real region,
 * saves a full and a diff snapshot pair, merges, restores and verifies them
 * against the region's bytes, and migrates the region over loopback TCP,
 * with every option and report struct set up by the old SQ_INIT. Each
 * report lies in front of a guard of known bytes that must stay intact: the
 * library may write only within the caller's (old, smaller) size.
 *
 * Exit 0 on success, 1 on the first failed check (with the line).
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <squib/error.h>
#include <squib/merge.h>
#include <squib/migrate.h>
#include <squib/restore.h>
#include <squib/snapshot.h>
#include <squib/state.h>
#include <squib/tracker.h>
#include <squib/types.h>
#include <squib/version.h>

#include "now_sizes.h"

#define PAGES 64u
#define REGION_BYTES ((size_t)PAGES * SQ_PAGE_SIZE)
#define GUARD_BYTES 64u
#define GUARD_BYTE 0xa5

#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "old_client.c:%d: check failed: %s (last error: %s)\n", \
				__LINE__, #cond, sq_last_error());                     \
			exit(1);                                                       \
		}                                                                      \
	} while (0)

/* A struct followed by a guard: the library must not touch the guard. */
#define GUARDED(type)                                  \
	struct {                                       \
		type s;                                \
		unsigned char guard[GUARD_BYTES];      \
	}

/* Zero @g, set its size the old SQ_INIT way and fill its guard. */
#define GUARD_INIT(g, type)                                    \
	do {                                                   \
		memset(&(g), 0, sizeof(g));                    \
		(g).s = (type)SQ_INIT(type);                   \
		memset((g).guard, GUARD_BYTE, GUARD_BYTES);    \
	} while (0)

#define GUARD_INTACT(g) guard_intact((g).guard, #g)

static char dir[256];

static void guard_intact(const unsigned char *guard, const char *what)
{
	for (unsigned i = 0; i < GUARD_BYTES; i++)
		if (guard[i] != GUARD_BYTE) {
			fprintf(stderr, "old_client: the library wrote past %s (guard byte %u)\n",
				what, i);
			exit(1);
		}
}

static void fill(uint8_t *region, uint32_t first, uint32_t n, uint64_t *seed)
{
	for (size_t i = (size_t)first * SQ_PAGE_SIZE; i < (size_t)(first + n) * SQ_PAGE_SIZE; i++) {
		*seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
		region[i] = (uint8_t)(*seed >> 56);
	}
}

/* Today's layout of each struct used against the old one: at least one must
 * be smaller in the old headers, or this test would prove nothing. */
static void old_layouts_are_smaller(void)
{
	static const struct {
		const char *name;
		size_t old_size;
		enum now_struct now;
	} s[] = {
		{ "sq_tracker_opts", sizeof(struct sq_tracker_opts), NOW_TRACKER_OPTS },
		{ "sq_snapshot_save_req", sizeof(struct sq_snapshot_save_req), NOW_SNAPSHOT_SAVE_REQ },
		{ "sq_snapshot_report", sizeof(struct sq_snapshot_report), NOW_SNAPSHOT_REPORT },
		{ "sq_writer_report", sizeof(struct sq_writer_report), NOW_WRITER_REPORT },
		{ "sq_merge_opts", sizeof(struct sq_merge_opts), NOW_MERGE_OPTS },
		{ "sq_merge_report", sizeof(struct sq_merge_report), NOW_MERGE_REPORT },
		{ "sq_restore_opts", sizeof(struct sq_restore_opts), NOW_RESTORE_OPTS },
		{ "sq_restore_report", sizeof(struct sq_restore_report), NOW_RESTORE_REPORT },
		{ "sq_verify_opts", sizeof(struct sq_verify_opts), NOW_VERIFY_OPTS },
		{ "sq_verify_report", sizeof(struct sq_verify_report), NOW_VERIFY_REPORT },
		{ "sq_migrate_send_opts", sizeof(struct sq_migrate_send_opts), NOW_MIGRATE_SEND_OPTS },
		{ "sq_migrate_report", sizeof(struct sq_migrate_report), NOW_MIGRATE_REPORT },
		{ "sq_migrate_recv_opts", sizeof(struct sq_migrate_recv_opts), NOW_MIGRATE_RECV_OPTS },
		{ "sq_migrate_recv_stats", sizeof(struct sq_migrate_recv_stats), NOW_MIGRATE_RECV_STATS },
	};
	unsigned smaller = 0;

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		size_t now = now_size_of(s[i].now);
		CHECK(now >= s[i].old_size); /* structs only grow */
		if (now > s[i].old_size) {
			printf("old_client: struct %s: %zu bytes in the old headers, %zu today\n",
			       s[i].name, s[i].old_size, now);
			smaller++;
		}
	}
	CHECK(smaller > 0);
}

/* A size of 0, or one below the first layout, is refused. */
static void small_sizes_refused(struct sq_tracker *t, uint32_t id)
{
	struct sq_tracker_opts to = { .size = 0 };
	struct sq_tracker *t2 = NULL;
	CHECK(sq_tracker_create(&to, &t2) == SQ_E_INVAL && t2 == NULL);

	struct sq_migrate_recv_opts ro = SQ_INIT(struct sq_migrate_recv_opts);
	struct sq_migrate_recv *r;
	ro.mem_fd = -1;
	CHECK(sq_migrate_recv_create(&ro, &r) == 0);
	struct sq_migrate_recv_stats st = { .size = 0 };
	CHECK(sq_migrate_recv_stats(r, &st) == SQ_E_INVAL);
	st.size = (uint32_t)offsetof(struct sq_migrate_recv_stats, complete);
	CHECK(sq_migrate_recv_stats(r, &st) == SQ_E_INVAL);
	sq_migrate_recv_destroy(r);

	struct sq_dirty_stats ds = { .size = 4 };
	CHECK(sq_tracker_stats(t, id, &ds) == SQ_E_INVAL);
}

/* Mark pages 3, 10-12 and 40 and check the harvested runs; put them back. */
static void track(struct sq_tracker *t, uint32_t id, uint8_t *region, uint64_t *seed)
{
	static const struct sq_run want[] = { { 3, 1 }, { 10, 3 }, { 40, 1 } };
	struct sq_dirty_set *set;

	fill(region, 3, 1, seed);
	fill(region, 10, 3, seed);
	fill(region, 40, 1, seed);
	CHECK(sq_tracker_mark(t, region + 3 * SQ_PAGE_SIZE + 17) == 0);
	CHECK(sq_tracker_mark_range(t, region + 10 * SQ_PAGE_SIZE, 3 * SQ_PAGE_SIZE) == 0);
	CHECK(sq_tracker_mark(t, region + 40 * SQ_PAGE_SIZE) == 0);
	CHECK(sq_tracker_harvest(t, id, &set) == 0);
	CHECK(sq_dirty_set_nruns(set) == 3 && sq_dirty_set_pages(set) == 5);
	CHECK(memcmp(sq_dirty_set_runs(set), want, sizeof(want)) == 0);
	CHECK(sq_tracker_put_back(t, set) == 0);
	sq_dirty_set_free(set);
}

/* Save generation @gen of @region (0 full, 1 diff of the tracked pages);
 * @want_pages: the pages the diff must write (0: any, for the full). */
static void save(struct sq_tracker *t, uint32_t id, const uint8_t *region, unsigned gen,
		 uint64_t want_pages)
{
	char snap[300], parent_snap[300];
	struct sq_microvm_state *vm;
	uint8_t *st = NULL;
	size_t stlen = 0;
	struct sq_mem_source src = { .base = region, .size = REGION_BYTES };
	struct sq_snapshot_id parent;
	GUARDED(struct sq_snapshot_save_req) q;
	GUARDED(struct sq_snapshot_report) rep;
	GUARDED(struct sq_writer_report) io;

	snprintf(snap, sizeof(snap), "%s/s%u.snap", dir, gen);
	snprintf(parent_snap, sizeof(parent_snap), "%s/s0.snap", dir);
	CHECK(sq_state_demo_vcpus(gen + 1, &vm) == 0);
	CHECK(sq_state_encode(vm, &st, &stlen) == 0);
	sq_state_free(vm);
	GUARD_INIT(q, struct sq_snapshot_save_req);
	GUARD_INIT(rep, struct sq_snapshot_report);
	GUARD_INIT(io, struct sq_writer_report);
	rep.s.io = &io.s;
	q.s.state_path = snap;
	q.s.state = st;
	q.s.state_len = stlen;
	q.s.mem = &src;
	if (gen) {
		CHECK(sq_snapshot_id_of(parent_snap, &parent) == 0);
		q.s.kind = SQ_SNAPSHOT_DIFF;
		q.s.parent = &parent;
	}
	CHECK(sq_snapshot_save_tracked(&q.s, t, id, &rep.s) == 0);
	CHECK(want_pages ? rep.s.pages_dirty == want_pages : rep.s.pages_dirty > 0);
	CHECK(io.s.size == sizeof(struct sq_writer_report));
	GUARD_INTACT(q);
	GUARD_INTACT(rep);
	GUARD_INTACT(io);
	free(st); /* the old headers: a malloc'ed buffer */
}

/* Merge, verify and restore the chain s0 + s1: each equals @region. */
static void merge_restore_verify(const uint8_t *region)
{
	char s0[300], s1[300], out[300];
	GUARDED(struct sq_merge_opts) mo;
	GUARDED(struct sq_merge_report) mr;
	GUARDED(struct sq_verify_opts) vo;
	GUARDED(struct sq_verify_report) vr;
	GUARDED(struct sq_restore_opts) ro;
	GUARDED(struct sq_restore_report) rr;

	snprintf(s0, sizeof(s0), "%s/s0.snap", dir);
	snprintf(s1, sizeof(s1), "%s/s1.snap", dir);
	snprintf(out, sizeof(out), "%s/merged.mem", dir);
	const char *chain[2] = { s0, s1 };

	GUARD_INIT(mo, struct sq_merge_opts);
	GUARD_INIT(mr, struct sq_merge_report);
	mo.s.threads = 2;
	struct sq_merge_opts zero = { .size = 0 };
	CHECK(sq_merge_chain(chain, 2, out, &zero, NULL) == SQ_E_INVAL);
	CHECK(access(out, F_OK) != 0);
	CHECK(sq_merge_chain(chain, 2, out, &mo.s, &mr.s) == 0);
	CHECK(mr.s.layers == 2);
	GUARD_INTACT(mo);
	GUARD_INTACT(mr);

	FILE *f = fopen(out, "rb");
	CHECK(f != NULL);
	uint8_t *buf = malloc(REGION_BYTES + 1);
	CHECK(buf != NULL);
	CHECK(fread(buf, 1, REGION_BYTES + 1, f) == REGION_BYTES);
	fclose(f);
	CHECK(memcmp(buf, region, REGION_BYTES) == 0);
	free(buf);

	GUARD_INIT(vo, struct sq_verify_opts);
	GUARD_INIT(vr, struct sq_verify_report);
	vo.s.threads = 2;
	CHECK(sq_memfile_verify_ex(out, NULL, &vo.s, &vr.s) == 0);
	CHECK(vr.s.pages_checked > 0);
	GUARD_INTACT(vo);
	GUARD_INTACT(vr);

	uint8_t *dst = mmap(NULL, REGION_BYTES, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(dst != MAP_FAILED);
	GUARD_INIT(ro, struct sq_restore_opts);
	GUARD_INIT(rr, struct sq_restore_report);
	ro.s.verify = true;
	ro.s.threads = 2;
	rr.s.size = 2;
	CHECK(sq_restore_to_memory(chain, 2, dst, REGION_BYTES, &ro.s, &rr.s) == SQ_E_INVAL);
	rr.s.size = sizeof(struct sq_restore_report);
	memset(dst, 0xee, REGION_BYTES);
	CHECK(sq_restore_to_memory(chain, 2, dst, REGION_BYTES, &ro.s, &rr.s) == 0);
	CHECK(memcmp(dst, region, REGION_BYTES) == 0);
	CHECK(rr.s.layers == 2);
	GUARD_INTACT(ro);
	GUARD_INTACT(rr);
	munmap(dst, REGION_BYTES);
}

struct rx {
	int listen_fd;
	struct sq_migrate_recv *r;
	int rc;
};

static void *rx_main(void *arg)
{
	struct rx *x = arg;
	x->rc = sq_migrate_recv_accept(x->r, x->listen_fd);
	return NULL;
}

static int no_pause(void *ctx)
{
	(void)ctx;
	return 0;
}

/* Migrate the tracked region over loopback TCP; the receiver's stats are
 * read into the old (smaller) sq_migrate_recv_stats. */
static void migrate(struct sq_tracker *t, uint32_t id, const uint8_t *region)
{
	static const char state[] = "old client state";
	struct rx x = { .listen_fd = -1 };
	unsigned port;
	char to[64];
	pthread_t th;
	struct sq_migrate_tracker_ctx tctx = { .tracker = t, .region_id = id };
	struct sq_migrate_recv_opts ro = SQ_INIT(struct sq_migrate_recv_opts);
	struct sq_migrate_send_opts so = SQ_INIT(struct sq_migrate_send_opts);
	GUARDED(struct sq_migrate_report) rep;
	GUARDED(struct sq_migrate_recv_stats) st;

	ro.mem_fd = -1;
	ro.timeout_ms = 20000;
	CHECK(sq_migrate_recv_create(&ro, &x.r) == 0);
	CHECK(sq_migrate_listen("127.0.0.1:0", &x.listen_fd, &port) == 0);
	CHECK(pthread_create(&th, NULL, rx_main, &x) == 0);

	snprintf(to, sizeof(to), "127.0.0.1:%u", port);
	so.to = to;
	so.nconns = 2;
	so.region = region;
	so.region_size = REGION_BYTES;
	sq_migrate_tracker_source(&tctx, &so.source);
	so.pause = no_pause;
	so.state_blob = state;
	so.state_len = sizeof(state);
	so.timeout_ms = 20000;
	GUARD_INIT(rep, struct sq_migrate_report);
	int rc = sq_migrate_send(&so, &rep.s);
	CHECK(pthread_join(th, NULL) == 0);
	close(x.listen_fd);
	CHECK(rc == 0);
	CHECK(x.rc == 0);
	CHECK(rep.s.converged);
	GUARD_INTACT(rep);

	size_t size = 0, len = 0;
	const uint8_t *dst = sq_migrate_recv_region(x.r, &size);
	CHECK(dst != NULL && size == REGION_BYTES);
	CHECK(memcmp(dst, region, REGION_BYTES) == 0);
	const void *blob = sq_migrate_recv_state(x.r, &len);
	CHECK(len == sizeof(state) && memcmp(blob, state, len) == 0);

	GUARD_INIT(st, struct sq_migrate_recv_stats);
	CHECK(sq_migrate_recv_stats(x.r, &st.s) == 0);
	CHECK(st.s.size == sizeof(struct sq_migrate_recv_stats));
	CHECK(st.s.complete);
	CHECK(st.s.region_size == REGION_BYTES);
	CHECK(st.s.nconns == 2);
	CHECK(st.s.state_len == sizeof(state));
	GUARD_INTACT(st);
	sq_migrate_recv_destroy(x.r);
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

/* Remove the temp directory, also when a check fails (exit 1). */
static void remove_dir(void)
{
	if (dir[0])
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(int argc, char **argv)
{
	const char *tmp = argc > 1 ? argv[1] : "/tmp";
	uint64_t seed = 0x5eed0ab1u;
	struct sq_tracker *t;
	uint32_t id;

	printf("old_client: built against %s (SOVERSION %d), running against %s\n",
	       SQ_VERSION_STRING, SQ_SOVERSION, sq_version());
	old_layouts_are_smaller();

	snprintf(dir, sizeof(dir), "%s/old_client.XXXXXX", tmp);
	CHECK(mkdtemp(dir) != NULL);
	CHECK(atexit(remove_dir) == 0);
	uint8_t *region = mmap(NULL, REGION_BYTES, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(region != MAP_FAILED);
	fill(region, 0, PAGES, &seed);
	memset(region + 50 * SQ_PAGE_SIZE, 0, 4 * SQ_PAGE_SIZE); /* a hole */

	GUARDED(struct sq_tracker_opts) to;
	GUARD_INIT(to, struct sq_tracker_opts);
	to.s.granule = SQ_GRANULE_FIXED_4K;
	CHECK(sq_tracker_create(&to.s, &t) == 0);
	CHECK(sq_tracker_add_region(t, region, REGION_BYTES, 0, &id) == 0);
	small_sizes_refused(t, id);

	save(t, id, region, 0, 0);
	track(t, id, region, &seed);
	save(t, id, region, 1, 5);
	merge_restore_verify(region);
	migrate(t, id, region);

	sq_tracker_destroy(t);
	munmap(region, REGION_BYTES);
	printf("old_client: all checks passed\n");
	return 0;
}
