/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Exclusive outputs and multi-file commits under concurrency and SIGKILL.
 *
 *   concurrent_pair_saves  two processes save different full pairs to one
 *                          stem, SQ_OUTPUT_ROUNDS (50) times each, while the
 *                          parent loads the pair: every save ends in 0 or
 *                          SQ_E_OUTPUT_BUSY, every load sees one writer's
 *                          complete pair (state, manifest and memory of
 *                          one save), and the end state is whole;
 *   concurrent_merges      two processes merge different chains into one
 *                          output, 50 times each, while the parent verifies
 *                          it: the same rules;
 *   merge_over_pair_killed a merge over an existing pair is SIGKILLed at a
 *                          random instant SQ_MERGE_KILLS (100) times (seed
 *                          printed): after each kill, verify (which
 *                          recovers) passes on the output, which is the old
 *                          or the new pair entirely, and load accepts it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include <squib/error.h>
#include <squib/manifest.h>
#include <squib/merge.h>
#include <squib/restore.h>
#include <squib/snapshot.h>
#include <squib/state.h>

#include "helpers.h"
#include "core/clock.h"

#define NPAGES 64u
#define SIZE ((size_t)NPAGES * 4096u)

static char *dir;

static unsigned env_num(const char *name, unsigned def)
{
	const char *v = getenv(name);
	return v && *v ? (unsigned)strtoul(v, NULL, 10) : def;
}

static char *in_dir(const char *name)
{
	char *p = NULL;
	assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

/* Content of writer @w: every page filled with byte 0x10 + w, page 7 a hole. */
static void fill(uint8_t *buf, unsigned w)
{
	memset(buf, 0x10 + (int)w, SIZE);
	memset(buf + 7 * 4096, 0, 4096);
}

static uint8_t *state_of(unsigned w, size_t *len)
{
	struct sq_microvm_state *vm;
	uint8_t *b = NULL;
	assert_int_equal(sq_x_state_demo_vcpus(w + 1, &vm), 0);
	assert_int_equal(sq_state_encode(vm, &b, len), 0);
	sq_state_destroy(vm);
	return b;
}

static int save_full(const char *path, unsigned w, uint8_t *region, const struct sq_run *runs,
		     size_t nruns, const struct sq_snapshot_id *parent)
{
	size_t len;
	uint8_t *st = state_of(w, &len);
	struct sq_mem_source src = { .base = region, .size = SIZE };
	struct sq_snapshot_save_req q = { .size = sizeof(q), .state_path = path, .state = st, .state_len = len,
					  .mem = &src, .runs = runs, .nruns = nruns,
					  .parent = parent,
					  .kind = parent ? SQ_SNAPSHOT_DIFF : SQ_SNAPSHOT_FULL };
	int rc = sq_snapshot_save(&q, NULL);
	free(st);
	return rc;
}

/* Which writer's content @buf is: 0 or 1, -1 for neither. */
static int whose(const uint8_t *buf)
{
	uint8_t *want = malloc(SIZE);
	int w = -1;
	for (unsigned i = 0; i < 2 && w < 0; i++) {
		fill(want, i);
		if (!memcmp(buf, want, SIZE))
			w = (int)i;
	}
	free(want);
	return w;
}

/* A child publishes @rounds times (retrying SQ_E_OUTPUT_BUSY, the only
 * other outcome allowed); exit 0 when it did. */
static pid_t kids[2];

static pid_t spawn(int (*op)(unsigned w), unsigned w, unsigned rounds)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid)
		return kids[w] = pid;
	unsigned ok = 0, busy = 0;
	for (unsigned i = 0; i < rounds; i++) {
		/* A busy output is retried: each writer publishes @rounds times. */
		for (unsigned tries = 0; tries < 20000; tries++) {
			int rc = op(w);
			if (rc == 0) {
				ok++;
				break;
			}
			if (rc != SQ_E_OUTPUT_BUSY) {
				fprintf(stderr, "writer %u round %u: %s: %s\n", w, i,
					sq_error_name(rc), sq_last_error());
				_exit(2);
			}
			busy++;
			struct timespec gap = { 0, 300000L };
			nanosleep(&gap, NULL);
		}
	}
	printf("writer %u: %u published, %u times busy\n", w, ok, busy);
	fflush(stdout);
	_exit(ok == rounds ? 0 : 3);
}

/* The reader's pause between checks, so that writers are not starved. */
static void nap(void)
{
	struct timespec d = { 0, 1000000L };
	nanosleep(&d, NULL);
}

/* 1 once @pid has exited (its status in *@st, kept across calls). */
static int done(pid_t pid, int *st)
{
	if (*st < 0 && waitpid(pid, st, WNOHANG) != pid)
		*st = -1;
	return *st >= 0;
}

static void exited_ok(int st)
{
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("writer ended with status 0x%x (exit 2: an error other than busy; 3: it could not publish every round)", st);
}

static char *pair_path;

static int op_save(unsigned w)
{
	uint8_t *region = malloc(SIZE);
	fill(region, w);
	int rc = save_full(pair_path, w, region, NULL, 0, NULL);
	free(region);
	return rc;
}

/* The pair as loaded: state of writer w and memory of writer w. */
static int check_pair(const char *path)
{
	struct sq_snapshot_loaded *l = NULL;
	int rc = sq_snapshot_load(path, 0, &l);
	if (rc)
		return -1;
	uint8_t *dst = aligned_alloc(4096, SIZE);
	const char *chain[1] = { path };
	int w = -1;
	if (sq_restore_to_memory(chain, 1, dst, SIZE, NULL, NULL) == 0)
		w = whose(dst);
	size_t len;
	uint8_t *st = w >= 0 ? state_of((unsigned)w, &len) : NULL;
	if (st && (len != l->state_len || memcmp(st, l->state, len)))
		w = -1;
	free(st);
	free(dst);
	sq_snapshot_loaded_destroy(l);
	return w;
}

static void concurrent_pair_saves(void **state)
{
	(void)state;
	unsigned rounds = env_num("SQ_OUTPUT_ROUNDS", 50), loads = 0;
	pair_path = in_dir("c.snap");
	pid_t a = spawn(op_save, 0, rounds), b = spawn(op_save, 1, rounds);
	int st_a = -1, st_b = -1;
	while (!done(a, &st_a) | !done(b, &st_b)) {
		nap();
		if (!sq_test_exists(pair_path))
			continue;
		if (check_pair(pair_path) < 0)
			fail_msg("a load saw a pair that is not one writer's complete save: %s",
				 sq_last_error());
		loads++;
	}
	exited_ok(st_a);
	exited_ok(st_b);
	assert_true(check_pair(pair_path) >= 0);
	printf("pair saves: %u concurrent loads, each one complete pair\n", loads);
	free(pair_path);
}

static char *merge_out;
static char *chains[2][2];

static int op_merge(unsigned w)
{
	const char *c[2] = { chains[w][0], chains[w][1] };
	return sq_merge_chain(c, 2, merge_out, NULL, NULL);
}

static void concurrent_merges(void **state)
{
	(void)state;
	unsigned rounds = env_num("SQ_OUTPUT_ROUNDS", 50), verified = 0;
	uint8_t *region = malloc(SIZE);
	struct sq_snapshot_id id;
	char *base = in_dir("base.snap");
	/* base: writer 0's content; d0 rewrites nothing; d1 turns it into writer 1's */
	fill(region, 0);
	assert_int_equal(save_full(base, 0, region, NULL, 0, NULL), 0);
	assert_int_equal(sq_snapshot_id_of(base, &id), 0);
	static const struct sq_run none;
	chains[0][0] = chains[1][0] = base;
	chains[0][1] = in_dir("d0.snap");
	chains[1][1] = in_dir("d1.snap");
	assert_int_equal(save_full(chains[0][1], 0, region, &none, 0, &id), 0);
	fill(region, 1);
	struct sq_run all[2] = { { 0, 7 }, { 8, NPAGES - 8 } };
	assert_int_equal(save_full(chains[1][1], 1, region, all, 2, &id), 0);
	merge_out = in_dir("m.mem");
	pid_t a = spawn(op_merge, 0, rounds), b = spawn(op_merge, 1, rounds);
	uint8_t *dst = aligned_alloc(4096, SIZE);
	int st_a = -1, st_b = -1;
	while (!done(a, &st_a) | !done(b, &st_b)) {
		nap();
		if (!sq_test_exists(merge_out))
			continue;
		if (sq_memfile_verify(merge_out, NULL, 1, NULL) != 0)
			fail_msg("verify failed on a published merge: %s", sq_last_error());
		verified++;
	}
	exited_ok(st_a);
	exited_ok(st_b);
	const char *c[1] = { merge_out };
	assert_int_equal(sq_memfile_verify(merge_out, NULL, 1, NULL), 0);
	assert_int_equal(sq_restore_to_memory(c, 1, dst, SIZE, NULL, NULL), 0);
	assert_true(whose(dst) >= 0);
	printf("merges: %u concurrent verifies passed\n", verified);
	free(dst);
	free(region);
}

/* SIGKILL during a merge over an existing pair (m.mem / m.manifest / m.snap). */
static void merge_over_pair_killed(void **state)
{
	(void)state;
	unsigned kills = env_num("SQ_MERGE_KILLS", 100);
	uint64_t seed = sq_test_seed("merge kills");
	char *snap = in_dir("m.snap");
	uint8_t *dst = aligned_alloc(4096, SIZE);
	const char *c[1] = { merge_out };
	/* the existing pair at m: chain 0's merge, complete */
	assert_int_equal(op_merge(0), 0);
	long span_ns = 0;
	for (unsigned k = 0; k < 3; k++) {
		uint64_t t0 = sq_clock_ns();
		assert_int_equal(op_merge(k % 2), 0);
		span_ns += (long)(sq_clock_ns() - t0);
	}
	span_ns = span_ns / 3 + 1;
	for (unsigned k = 0; k < kills; k++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			_exit(op_merge(k % 2) ? 1 : 0);
		struct timespec d = { 0, (long)(sq_test_rand(&seed) % (uint64_t)span_ns) };
		nanosleep(&d, NULL);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		/* verify (recovers first) and load: one complete pair */
		if (sq_memfile_verify(merge_out, NULL, 1, NULL) != 0)
			fail_msg("kill %u: verify failed: %s", k, sq_last_error());
		assert_int_equal(sq_restore_to_memory(c, 1, dst, SIZE, NULL, NULL), 0);
		int w = whose(dst);
		assert_true(w >= 0);
		struct sq_snapshot_loaded *l = NULL;
		if (sq_snapshot_load(snap, 0, &l) != 0)
			fail_msg("kill %u: the merged pair does not load: %s", k, sq_last_error());
		sq_snapshot_loaded_destroy(l);
	}
	printf("merge over a pair: %u kills, each left one complete pair\n", kills);
	free(dst);
	free(snap);
}

static int setup(void **state)
{
	(void)state;
	dir = sq_test_tmpdir("outputs");
	return dir ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++) /* writers still running after a failure */
		if (kids[i] > 0 && kill(kids[i], SIGKILL) == 0)
			waitpid(kids[i], NULL, 0);
	sq_test_rmrf(dir);
	free(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(concurrent_pair_saves),
		cmocka_unit_test(concurrent_merges),
		cmocka_unit_test(merge_over_pair_killed),
	};
	return cmocka_run_group_tests_name("hardening/outputs", tests, setup, teardown);
}
