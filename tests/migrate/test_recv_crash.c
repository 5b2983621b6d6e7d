/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A receiver killed (SIGKILL, from outside) while it saves the snapshot pair
 * of a session it just verified.
 *
 * Each iteration migrates generation g + 1 (memory and a state file that
 * both name their generation) from a sender process to a receiver process
 * whose commit step saves a pair over generation g. The parent learns when
 * the save starts (a byte on a pipe, written by the commit step right
 * before sq_migrate_recv_save_pair) and kills the receiver after a random
 * delay spread over the save. Then the destination must load, hold exactly
 * generation g or exactly g + 1 (memory, state and manifest of one
 * generation), and pass sq_memfile_verify. A save that completed must be
 * generation g + 1 and its sender must have exited 0.
 * The loop runs until SQ_RECV_CRASH_KILLS receivers (default 100) died of
 * the kill (at most four times as many iterations); the seed is printed
 * (SQ_TEST_SEED reruns the same delays).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <squib/error.h>
#include <squib/migrate.h>
#include <squib/restore.h>
#include <squib/snapshot.h>
#include <squib/state.h>

#include "helpers.h"
#include "core/clock.h"

#define NPAGES 96u
#define SIZE ((size_t)NPAGES * 4096u)

static char *dir, *pair;

/* Generation @gen's memory: each page starts with (gen, page); a third of
 * the pages are zero so the memory file has holes. */
static void fill(unsigned gen, uint8_t *m)
{
	memset(m, 0, SIZE);
	for (unsigned p = 0; p < NPAGES; p++) {
		if ((p + gen) % 3 == 0)
			continue;
		uint64_t tag[2] = { gen + 1, p };
		memcpy(m + (size_t)p * 4096, tag, sizeof(tag));
		memset(m + (size_t)p * 4096 + 16, (int)(gen * 31 + p), 4080);
	}
}

/* Generation @gen's state file: its GIC blob is the generation number. */
static void state_of(unsigned gen, uint8_t **out, size_t *len)
{
	struct sq_microvm_state *s = NULL;
	uint32_t g = gen;

	assert_int_equal(sq_x_state_demo_vcpus(2, &s), 0);
	assert_int_equal(sq_state_set_gic(s, &g, sizeof(g)), 0);
	assert_int_equal(sq_state_encode(s, out, len), 0);
	sq_state_destroy(s);
}

static int signal_fd = -1;

/* The commit step: say "saving now", then save the pair. */
static int save_pair(void *ctx, const struct sq_migrate_recv *r)
{
	char b = 's';

	(void)ctx;
	if (write(signal_fd, &b, 1) != 1)
		return SQ_E_IO;
	return sq_migrate_recv_save_pair(r, pair, NULL);
}

static void __attribute__((noreturn)) receiver(int lfd, int wr)
{
	struct sq_migrate_recv_opts ro = { .size = sizeof(ro), .mem_fd = -1, .timeout_ms = 10000,
					   .commit = save_pair };
	struct sq_migrate_recv *r = NULL;

	signal_fd = wr;
	int rc = sq_migrate_recv_create(&ro, &r);
	if (!rc)
		rc = sq_migrate_recv_accept(r, lfd);
	if (rc)
		fprintf(stderr, "receiver: %s\n", sq_last_error());
	_exit(rc ? 1 : 0);
}

static int none(void *ctx, void **set, const struct sq_run **runs, size_t *nruns)
{
	(void)ctx;
	*set = NULL;
	*runs = NULL;
	*nruns = 0;
	return 0;
}

static void none_done(void *ctx, void *set)
{
	(void)ctx;
	(void)set;
}

static int no_pause(void *ctx)
{
	(void)ctx;
	return 0;
}

static void __attribute__((noreturn)) sender(unsigned gen, unsigned port)
{
	static uint8_t m[SIZE];
	uint8_t *st = NULL;
	size_t st_len = 0;
	char to[64];

	fill(gen, m);
	state_of(gen, &st, &st_len);
	snprintf(to, sizeof(to), "127.0.0.1:%u", port);
	struct sq_migrate_send_opts o = { .size = sizeof(o), .to = to, .nconns = 1, .region = m, .region_size = SIZE,
					  .source = { none, none_done, none_done, NULL },
					  .pause = no_pause, .state_blob = st, .state_len = st_len,
					  .timeout_ms = 10000 };
	_exit(sq_migrate_send(&o, NULL) ? 1 : 0);
}

/* The generation the pair holds (@a or @b), or -1 with the reason printed. */
static int identify(unsigned a, unsigned b)
{
	struct sq_snapshot_loaded *l = NULL;
	int rc = sq_snapshot_load(pair, 0, &l), gen = -1;

	if (rc) {
		fprintf(stderr, "load failed: %s: %s\n", sq_error_name(rc), sq_last_error());
		return -1;
	}
	unsigned char *mem = NULL;
	size_t mem_len = 0;
	static uint8_t want[SIZE];
	assert_int_equal(sq_test_read_file(l->mem_path, &mem, &mem_len), 0);
	unsigned cand[2] = { a, b };
	for (int i = 0; i < 2 && gen < 0; i++) {
		uint8_t *st = NULL;
		size_t st_len = 0;
		fill(cand[i], want);
		state_of(cand[i], &st, &st_len);
		int mem_eq = mem_len == SIZE && !memcmp(mem, want, SIZE);
		int st_eq = l->state_len == st_len && !memcmp(l->state, st, st_len);
		if (mem_eq && st_eq)
			gen = (int)cand[i];
		else if (mem_eq != st_eq)
			fprintf(stderr, "MIXED: memory %s generation %u, state %s\n",
				mem_eq ? "is" : "is not", cand[i], st_eq ? "is" : "is not");
		free(st);
	}
	struct sq_verify_report vr = SQ_INIT(struct sq_verify_report);
	rc = sq_memfile_verify(l->mem_path, l->manifest, 1, &vr);
	if (rc) {
		fprintf(stderr, "verify: %s: %s\n", sq_error_name(rc), sq_last_error());
		gen = -1;
	}
	free(mem);
	sq_snapshot_loaded_destroy(l);
	return gen;
}

static double now_us(void)
{
	return (double)sq_clock_ns() / 1e3;
}

struct run {
	int killed;      /* the receiver died of the SIGKILL */
	int recv_status, send_status;
	double save_us;  /* save start to receiver exit (when not killed) */
};

/* One migration of @gen; kill the receiver @delay_us after its save began
 * (< 0: never). */
static struct run migrate_gen(unsigned gen, double delay_us)
{
	struct run out = { 0 };
	int lfd, pfd[2];
	unsigned port;

	assert_int_equal(sq_migrate_listen("127.0.0.1:0", &lfd, &port), 0);
	assert_int_equal(pipe(pfd), 0);
	fflush(NULL);
	pid_t rx = fork();
	assert_true(rx >= 0);
	if (rx == 0) {
		close(pfd[0]);
		receiver(lfd, pfd[1]);
	}
	close(pfd[1]);
	pid_t tx = fork();
	assert_true(tx >= 0);
	if (tx == 0)
		sender(gen, port);
	close(lfd);
	char b;
	ssize_t n = read(pfd[0], &b, 1);
	double t0 = now_us();
	if (n == 1 && delay_us >= 0) {
		usleep((useconds_t)delay_us);
		kill(rx, SIGKILL);
	}
	assert_int_equal(waitpid(rx, &out.recv_status, 0), rx);
	out.save_us = now_us() - t0;
	assert_int_equal(waitpid(tx, &out.send_status, 0), tx);
	close(pfd[0]);
	out.killed = WIFSIGNALED(out.recv_status);
	return out;
}

static void kill_receiver_saves(void **state)
{
	(void)state;
	uint64_t rng = sq_test_seed("migrate/recv_crash");
	const char *want = getenv("SQ_RECV_CRASH_KILLS");
	unsigned kills = want ? (unsigned)strtoul(want, NULL, 0) : 100, i;

	dir = sq_test_tmpdir("mig-crash");
	pair = malloc(strlen(dir) + 16);
	assert_non_null(pair);
	sprintf(pair, "%s/vm.snap", dir);
	/* Generations 0..2 uninterrupted: the median save duration. */
	double dur[3];
	for (unsigned g = 0; g < 3; g++) {
		struct run r = migrate_gen(g, -1);
		assert_true(WIFEXITED(r.recv_status) && WEXITSTATUS(r.recv_status) == 0);
		assert_true(WIFEXITED(r.send_status) && WEXITSTATUS(r.send_status) == 0);
		assert_int_equal(identify(g, g), (int)g);
		dur[g] = r.save_us;
	}
	double lo = dur[0] < dur[1] ? dur[0] : dur[1], hi = dur[0] < dur[1] ? dur[1] : dur[0];
	double window = 1.5 * (dur[2] < lo ? lo : dur[2] > hi ? hi : dur[2]);
	unsigned cur = 2, killed = 0, old = 0, fresh = 0;
	for (i = 0; killed < kills && i < 4 * kills; i++) {
		double delay = (double)(sq_test_rand(&rng) % (uint64_t)(window + 1));
		struct run r = migrate_gen(cur + 1, delay);
		int gen = identify(cur, cur + 1);
		if (gen < 0)
			fail_msg("iteration %u (delay %.0f us, %s): no complete generation %u or %u",
				 i, delay, r.killed ? "killed" : "completed", cur, cur + 1);
		int sent = WIFEXITED(r.send_status) && WEXITSTATUS(r.send_status) == 0;
		/* The sender hears "done" only once the new pair is in place. */
		if (sent && gen != (int)cur + 1)
			fail_msg("iteration %u: the sender was told done, the pair is generation %d",
				 i, gen);
		if (!r.killed) {
			assert_true(WIFEXITED(r.recv_status) && WEXITSTATUS(r.recv_status) == 0);
			assert_int_equal(gen, (int)cur + 1);
			assert_true(sent);
			window *= 0.9; /* the kill came too late: aim earlier */
		} else {
			killed++;
			window *= 1.05;
		}
		if (gen == (int)cur + 1) {
			fresh++;
			cur++;
		} else {
			old++;
		}
	}
	fprintf(stderr, "  %u iterations: %u receivers killed while saving; the pair was the old "
		"generation %u times, the new one %u times\n", i, killed, old, fresh);
	assert_true(killed >= kills);
	sq_test_rmrf(dir);
	free(dir);
	free(pair);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kill_receiver_saves),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
