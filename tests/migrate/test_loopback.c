/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pre-copy loop over loopback TCP (127.0.0.1 only): byte equality with a
 * writer running during the migration, convergence at a low dirty rate,
 * non-convergence under a bandwidth limit handled by each policy, refusals,
 * a connection dropped mid-round, and saving what was received.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <squib/error.h>
#include <squib/migrate.h>
#include <squib/snapshot.h>

#include "builder.h"
#include "helpers.h"
#include "workload.h"

/*
 * Under TSan: the workload's stores into the live region race with the
 * sender's copies of the same pages by design (pre-copy sends memory that
 * is being written; the dirty tracker makes the next round carry the new
 * bytes). Only that race is suppressed; the library's own synchronization
 * is checked as usual.
 */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
	return "race:wl_writer\nrace:sq_mig_copy_live\n";
}

static uint64_t seed;
static unsigned rounds_seen;

static void count_round(void *ctx, const struct sq_migrate_round *r)
{
	(void)ctx;
	(void)r;
	rounds_seen++;
}

/* Run one migration of @w to a fresh receiver; returns the sender's code. */
static int migrate(struct wl *w, struct sq_migrate_send_opts *o, struct rx_thread *x,
		   struct sq_migrate_report *rep)
{
	memset(x, 0, sizeof(*x));
	x->timeout_ms = 5000;
	assert_int_equal(rx_thread_start(x, NULL), 0);
	o->to = x->addr;
	if (!o->timeout_ms)
		o->timeout_ms = 5000;
	wl_start(w);
	int rc = sq_migrate_send(o, rep);
	if (rc)
		fprintf(stderr, "  sender: %s: %s\n", sq_error_name(rc), sq_last_error());
	int rrc = rx_thread_join(x);
	if (rrc)
		fprintf(stderr, "  receiver: %s\n", sq_error_name(rrc));
	fprintf(stderr, "  rounds %u, wire %llu bytes for %zu, downtime %.1f ms, total %.3f s, throttle %u%%\n",
		rep->rounds, (unsigned long long)rep->wire_bytes, w->size, rep->downtime_ms,
		rep->total_s, rep->throttle_pct);
	return rc;
}

static void writer_equality(void **state)
{
	(void)state;
	struct wl w;
	struct sq_migrate_send_opts o = SQ_INIT(struct sq_migrate_send_opts);
	struct sq_migrate_report rep = SQ_INIT(struct sq_migrate_report);
	struct rx_thread x;
	const char blob[] = "the state blob, sent after the pause";

	assert_int_equal(wl_init(&w, 16u << 20, 16.0 * 1048576, seed), 0);
	wl_opts(&w, &o);
	o.nconns = 2;
	/* ~0.5 s per full pass and a tight target: several rounds while the
	 * writer runs. */
	o.bandwidth_limit = 32u << 20;
	o.downtime_ms = 30;
	o.state_blob = blob;
	o.state_len = sizeof(blob);
	assert_int_equal(migrate(&w, &o, &x, &rep), 0);
	assert_int_equal(x.rc, 0);
	assert_true(w.paused);
	assert_true(rep.converged);
	assert_true(rep.rounds >= 2);
	assert_true(atomic_load(&w.writes) > 0);
	size_t size;
	uint8_t *dst = sq_migrate_recv_region(x.r, &size);
	assert_int_equal(size, w.size);
	assert_memory_equal(dst, w.region, w.size); /* the source as of the pause */
	size_t blen;
	const void *b = sq_migrate_recv_state(x.r, &blen);
	assert_int_equal(blen, sizeof(blob));
	assert_memory_equal(b, blob, sizeof(blob));
	struct sq_migrate_recv_stats st = SQ_INIT(struct sq_migrate_recv_stats);
	sq_migrate_recv_stats(x.r, &st);
	assert_int_equal(st.complete, 1);
	assert_int_equal(st.nconns, 2);
	assert_int_equal(st.rounds, rep.rounds);
	assert_int_equal(st.pages, rep.pages);

	/* Saved: a sparse memory file equal to the region, and the state. */
	char *dir = sq_test_tmpdir("mig-save");
	assert_int_equal(sq_migrate_recv_save(x.r, dir), 0);
	char path[4096];
	unsigned char *got = NULL;
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/memory", dir);
	assert_int_equal(sq_test_read_file(path, &got, &len), 0);
	assert_int_equal(len, w.size);
	assert_memory_equal(got, w.region, w.size);
	free(got);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_true((size_t)sb.st_blocks * 512 < w.size); /* holes where pages are zero */
	snprintf(path, sizeof(path), "%s/state", dir);
	assert_int_equal(sq_test_read_file(path, &got, &len), 0);
	assert_int_equal(len, sizeof(blob));
	free(got);
	sq_test_rmrf(dir);
	free(dir);
	sq_migrate_recv_destroy(x.r);
	wl_fini(&w);
}

static void converges_low_rate(void **state)
{
	(void)state;
	struct wl w;
	struct sq_migrate_send_opts o = SQ_INIT(struct sq_migrate_send_opts);
	struct sq_migrate_report rep = SQ_INIT(struct sq_migrate_report);
	struct rx_thread x;

	assert_int_equal(wl_init(&w, 8u << 20, 1.0 * 1048576, seed + 1), 0);
	wl_opts(&w, &o);
	o.nconns = 1;
	o.on_round = count_round;
	rounds_seen = 0;
	assert_int_equal(migrate(&w, &o, &x, &rep), 0);
	assert_int_equal(x.rc, 0);
	assert_true(rep.converged);
	assert_true(rep.rounds >= 2 && rep.rounds <= 4);
	assert_true(rep.predicted_downtime_ms <= SQ_MIGRATE_DEFAULT_DOWNTIME_MS);
	assert_true(rep.downtime_ms > 0);
	assert_int_equal(rep.nstats, rep.rounds);
	assert_int_equal(rounds_seen, rep.rounds - 1); /* a decision after each non-final round */
	assert_true(rep.round[0].bandwidth > 0);
	/* Round 1 skipped the zero pages (every 8th page of the workload). */
	assert_true(rep.round[0].pages < (w.size / 4096));
	assert_true(rep.wire_bytes < w.size + (w.size >> 2));
	assert_memory_equal(sq_migrate_recv_region(x.r, NULL), w.region, w.size);
	sq_migrate_recv_destroy(x.r);
	wl_fini(&w);
}

/* 1 MiB region, 4 MiB/s link, 64 MiB/s of random writes: every round
 * finds the whole region dirty again, and sending it takes 250 ms, over
 * the 100 ms target. */
static void setup_hot(struct wl *w, struct sq_migrate_send_opts *o, uint64_t s)
{
	assert_int_equal(wl_init(w, 1u << 20, 64.0 * 1048576, s), 0);
	wl_opts(w, o);
	o->nconns = 2;
	o->bandwidth_limit = 4u << 20;
	o->downtime_ms = 100;
}

static void not_converged_fail(void **state)
{
	(void)state;
	struct wl w;
	struct sq_migrate_send_opts o = SQ_INIT(struct sq_migrate_send_opts);
	struct sq_migrate_report rep = SQ_INIT(struct sq_migrate_report);
	struct rx_thread x;

	setup_hot(&w, &o, seed + 2);
	o.policy = SQ_MIGRATE_FAIL;
	int rc = migrate(&w, &o, &x, &rep);
	assert_int_equal(rc, SQ_E_NOT_CONVERGED);
	assert_int_equal(rep.result, SQ_E_NOT_CONVERGED);
	assert_non_null(strstr(sq_last_error(), "did not converge"));
	assert_int_equal(x.rc, SQ_E_CANCELED); /* the receiver was told */
	assert_false(rep.converged);
	assert_false(w.paused);
	/* Said early: well before the round limit. */
	assert_true(rep.rounds < 6);
	const struct sq_migrate_round *last = &rep.round[rep.nstats - 1];
	assert_true(last->dirty_rate >= 0.9 * last->bandwidth || last->dirty_rate > 0);
	/* The set harvested for the next round went back into the tracker. */
	wl_pause(&w);
	uint64_t pending = 0;
	assert_int_equal(sq_tracker_count(w.t, w.id, &pending), 0);
	assert_true(pending > 0);
	sq_migrate_recv_destroy(x.r);
	wl_fini(&w);
}

static void not_converged_auto(void **state)
{
	(void)state;
	struct wl w;
	struct sq_migrate_send_opts o = SQ_INIT(struct sq_migrate_send_opts);
	struct sq_migrate_report rep = SQ_INIT(struct sq_migrate_report);
	struct rx_thread x;

	setup_hot(&w, &o, seed + 3);
	o.policy = SQ_MIGRATE_AUTO_CONVERGE;
	o.throttle_initial = 50;
	o.throttle_step = 20;
	o.max_rounds = 20;
	assert_int_equal(migrate(&w, &o, &x, &rep), 0);
	assert_int_equal(x.rc, 0);
	assert_true(rep.converged);
	assert_true(w.throttle_calls >= 1);
	assert_true(rep.throttle_pct >= 50);
	assert_int_equal(w.last_throttle, rep.throttle_pct);
	assert_memory_equal(sq_migrate_recv_region(x.r, NULL), w.region, w.size);
	sq_migrate_recv_destroy(x.r);
	wl_fini(&w);
}

/* The same hot workload with a round limit: auto-converge gives up too. */
static void auto_round_limit(void **state)
{
	(void)state;
	struct wl w;
	struct sq_migrate_send_opts o = SQ_INIT(struct sq_migrate_send_opts);
	struct sq_migrate_report rep = SQ_INIT(struct sq_migrate_report);
	struct rx_thread x;

	setup_hot(&w, &o, seed + 4);
	o.policy = SQ_MIGRATE_AUTO_CONVERGE;
	o.max_rounds = 3;
	assert_int_equal(migrate(&w, &o, &x, &rep), SQ_E_NOT_CONVERGED);
	assert_int_equal(rep.rounds, 3);
	assert_int_equal(x.rc, SQ_E_CANCELED);
	sq_migrate_recv_destroy(x.r);
	wl_fini(&w);
}

static void refused_geometry(void **state)
{
	(void)state;
	struct wl w;
	struct sq_migrate_send_opts o = SQ_INIT(struct sq_migrate_send_opts);
	struct sq_migrate_report rep = SQ_INIT(struct sq_migrate_report);
	struct rx_thread x = { .timeout_ms = 5000 };
	static uint8_t small[1u << 20];
	struct sq_migrate_recv_opts ro = { .size = sizeof(ro), .region = small, .region_size = sizeof(small),
					   .mem_fd = -1, .timeout_ms = 5000, .session_ms = 1500 };

	assert_int_equal(wl_init(&w, 2u << 20, 0, seed), 0);
	wl_opts(&w, &o);
	assert_int_equal(rx_thread_start(&x, &ro), 0);
	o.to = x.addr;
	/* The sender hears why; the receiver refuses that connection alone and
	 * waits for a fitting sender until its session deadline. */
	assert_int_equal(sq_migrate_send(&o, &rep), SQ_E_SIZE_MISMATCH);
	assert_non_null(strstr(sq_last_error(), "the destination"));
	assert_int_equal(rx_thread_join(&x), SQ_E_TIMEOUT);
	assert_non_null(strstr(x.msg, "last connection refused"));
	sq_migrate_recv_destroy(x.r);
	wl_fini(&w);
}

static int dial(unsigned port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Two connections; one complete page frame, then both drop. */
static void dropped_mid_round(void **state)
{
	(void)state;
	static uint8_t dst[64 * 4096], page[4096];
	struct sq_migrate_recv_opts ro = { .size = sizeof(ro), .region = dst, .region_size = sizeof(dst), .mem_fd = -1,
					   .timeout_ms = 5000 };
	struct rx_thread x = { 0 };
	struct bld b[2] = { 0 };

	memset(page, 0xa5, sizeof(page));
	assert_int_equal(rx_thread_start(&x, &ro), 0);
	for (unsigned i = 0; i < 2; i++)
		bld_hello(&b[i], 77, sizeof(dst), i, 2);
	bld_pages(&b[0], 1, 3, 1, page);
	bld_pages(&b[1], 1, 9, 1, page);
	b[1].len -= 1000; /* connection 1 is cut inside its frame */
	int fd[2];
	for (unsigned i = 0; i < 2; i++) {
		fd[i] = dial(x.port);
		assert_int_equal(send(fd[i], b[i].buf, b[i].len, MSG_NOSIGNAL), (ssize_t)b[i].len);
	}
	/* Let the complete frame land, then drop both. */
	usleep(200000);
	close(fd[0]);
	close(fd[1]);
	int rc = rx_thread_join(&x);
	assert_true(rc == SQ_E_DISCONNECTED || rc == SQ_E_STREAM_TRUNCATED);
	for (unsigned p = 0; p < 64; p++)
		assert_true(p == 3 ? memcmp(dst + p * 4096, page, 4096) == 0
				   : dst[p * 4096] == 0 && dst[p * 4096 + 4095] == 0);
	sq_migrate_recv_destroy(x.r);
	bld_free(&b[0]);
	bld_free(&b[1]);
}

/* Connection 1 sends a damaged frame while connection 0 stays open and
 * idle: the CRC error is the result (not a timeout or a disconnect), the
 * idle connection's reader is released, and the sender learns the reason
 * on connection 0. */
static void first_failure_wins(void **state)
{
	(void)state;
	static uint8_t dst[32 * 4096], page[4096];
	struct sq_migrate_recv_opts ro = { .size = sizeof(ro), .region = dst, .region_size = sizeof(dst), .mem_fd = -1,
					   .timeout_ms = 20000 };
	struct rx_thread x = { 0 };
	struct bld b[2] = { 0 };

	memset(page, 0x77, sizeof(page));
	assert_int_equal(rx_thread_start(&x, &ro), 0);
	for (unsigned i = 0; i < 2; i++)
		bld_hello(&b[i], 79, sizeof(dst), i, 2);
	bld_pages(&b[0], 1, 1, 1, page);
	size_t at = bld_pages(&b[1], 1, 7, 1, page);
	b[1].buf[at + SQ_MIG_FRAME_HDR + 100] ^= 1;
	int fd[2];
	fd[0] = dial(x.port);
	assert_int_equal(send(fd[0], b[0].buf, b[0].len, MSG_NOSIGNAL), (ssize_t)b[0].len);
	fd[1] = dial(x.port);
	assert_int_equal(send(fd[1], b[1].buf, b[1].len, MSG_NOSIGNAL), (ssize_t)b[1].len);
	double t0 = sq_clock_s();
	assert_int_equal(rx_thread_join(&x), SQ_E_STREAM_CRC);
	assert_true(sq_clock_s() - t0 < 10.0); /* well before the 20 s timeout */
	/* The handshake reply, then the verdict on connection 0, with its text. */
	struct sq_mig_result vr;
	assert_int_equal(read_reply(fd[0], &vr), 0);
	assert_int_equal(vr.phase, SQ_MIG_PHASE_HELLO);
	assert_int_equal(read_reply(fd[0], &vr), 0);
	assert_int_equal(vr.phase, SQ_MIG_PHASE_FINAL);
	assert_non_null(strstr(vr.msg, "CRC mismatch"));
	assert_int_equal(vr.status, SQ_E_STREAM_CRC);
	assert_true(memcmp(dst + 4096, page, 4096) == 0 || dst[4096] == 0);
	assert_int_equal(dst[7 * 4096], 0);
	close(fd[0]);
	close(fd[1]);
	sq_migrate_recv_destroy(x.r);
	bld_free(&b[0]);
	bld_free(&b[1]);
}

/* Connections the caller opened: a socketpair carrying a whole session. */
static void caller_fds(void **state)
{
	(void)state;
	static uint8_t dst[8 * 4096], page[4096];
	struct sq_migrate_recv_opts ro = { .size = sizeof(ro), .region = dst, .region_size = sizeof(dst), .mem_fd = -1 };
	struct sq_migrate_recv *r;
	struct bld b = { 0 };
	int sp[2];

	memset(page, 0x42, sizeof(page));
	bld_hello(&b, 80, sizeof(dst), 0, 1);
	bld_pages(&b, 1, 5, 1, page);
	bld_final(&b, 80, 1, NULL, 0, NULL, 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	assert_int_equal(send(sp[0], b.buf, b.len, MSG_NOSIGNAL), (ssize_t)b.len);
	assert_int_equal(sq_migrate_recv_create(&ro, &r), 0);
	assert_int_equal(sq_migrate_recv_fds(r, NULL, 0), SQ_E_INVAL);
	assert_int_equal(sq_migrate_recv_fds(r, &sp[1], 1), 0);
	assert_memory_equal(dst + 5 * 4096, page, 4096);
	assert_int_equal(dst[4 * 4096], 0);
	/* The receiver answered the handshake, gave its verdict, then the
	 * outcome of its (empty) commit step. */
	struct sq_mig_result vr;
	assert_int_equal(read_reply(sp[0], &vr), 0);
	assert_int_equal(vr.phase, SQ_MIG_PHASE_HELLO);
	assert_int_equal(read_reply(sp[0], &vr), 0);
	assert_int_equal(vr.phase, SQ_MIG_PHASE_FINAL);
	assert_int_equal(vr.status, 0);
	assert_int_equal(vr.session_id, 80);
	assert_int_equal(read_reply(sp[0], &vr), 0);
	assert_int_equal(vr.phase, SQ_MIG_PHASE_COMMIT);
	assert_int_equal(vr.status, 0);
	/* One session per receiver. */
	assert_int_equal(sq_migrate_recv_fds(r, &sp[1], 1), SQ_E_INVAL);
	sq_migrate_recv_destroy(r);
	close(sp[0]);
	close(sp[1]);
	bld_free(&b);
}

/* A duplicate final frame arriving with the first one over TCP. */
static void duplicate_final_tcp(void **state)
{
	(void)state;
	static uint8_t dst[16 * 4096], page[4096];
	struct sq_migrate_recv_opts ro = { .size = sizeof(ro), .region = dst, .region_size = sizeof(dst), .mem_fd = -1,
					   .timeout_ms = 5000 };
	struct rx_thread x = { 0 };
	struct bld b = { 0 };

	memset(page, 0x3c, sizeof(page));
	assert_int_equal(rx_thread_start(&x, &ro), 0);
	bld_hello(&b, 78, sizeof(dst), 0, 1);
	bld_pages(&b, 1, 2, 1, page);
	bld_final(&b, 78, 1, NULL, 0, NULL, 0);
	bld_final(&b, 78, 1, NULL, 0, NULL, 0);
	int fd = dial(x.port);
	assert_int_equal(send(fd, b.buf, b.len, MSG_NOSIGNAL), (ssize_t)b.len);
	assert_int_equal(rx_thread_join(&x), SQ_E_STREAM_DUPLICATE);
	close(fd);
	sq_migrate_recv_destroy(x.r);
	bld_free(&b);
}

static void nobody_there(void **state)
{
	(void)state;
	struct wl w;
	struct sq_migrate_send_opts o = SQ_INIT(struct sq_migrate_send_opts);
	struct sq_migrate_report rep = SQ_INIT(struct sq_migrate_report);
	int lfd;
	unsigned port;
	char addr[64];

	/* A port that was just free: nothing listens on it any more. */
	assert_int_equal(sq_migrate_listen("127.0.0.1:0", &lfd, &port), 0);
	close(lfd);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	assert_int_equal(wl_init(&w, 1u << 20, 0, seed), 0);
	wl_opts(&w, &o);
	o.to = addr;
	assert_int_equal(sq_migrate_send(&o, &rep), SQ_E_IO);
	o.to = "127.0.0.1";
	assert_int_equal(sq_migrate_send(&o, &rep), SQ_E_INVAL);
	o.to = addr;
	o.pause = NULL;
	assert_int_equal(sq_migrate_send(&o, &rep), SQ_E_INVAL);
	wl_fini(&w);

	struct sq_migrate_recv *r;
	struct sq_migrate_recv_opts ro = { .size = sizeof(ro), .mem_fd = -1, .timeout_ms = 100 };
	assert_int_equal(sq_migrate_listen("127.0.0.1:0", &lfd, &port), 0);
	assert_int_equal(sq_migrate_recv_create(&ro, &r), 0);
	assert_int_equal(sq_migrate_recv_accept(r, lfd), SQ_E_TIMEOUT);
	sq_migrate_recv_destroy(r);
	close(lfd);
}

/* The blob is a real state file: the receiver writes a loadable pair. */
static void save_as_pair(void **state)
{
	(void)state;
	struct wl w;
	struct sq_migrate_send_opts o = SQ_INIT(struct sq_migrate_send_opts);
	struct sq_migrate_report rep = SQ_INIT(struct sq_migrate_report);
	struct rx_thread x;
	uint8_t *blob = NULL;
	size_t blob_len = 0;

	/* A state file as the original VMM writes it (golden vector). */
	assert_int_equal(sq_test_read_file(SQ_TEST_DATA_DIR "/vectors/demo.snap", &blob, &blob_len), 0);
	assert_int_equal(wl_init(&w, 4u << 20, 4.0 * 1048576, seed + 5), 0);
	wl_opts(&w, &o);
	o.state_blob = blob;
	o.state_len = blob_len;
	assert_int_equal(migrate(&w, &o, &x, &rep), 0);
	char *dir = sq_test_tmpdir("mig-pair");
	char path[4096], mem[4096];
	snprintf(path, sizeof(path), "%s/vm.snap", dir);
	snprintf(mem, sizeof(mem), "%s/vm.mem", dir);
	assert_int_equal(sq_migrate_recv_save_pair(x.r, path, NULL), 0);
	struct sq_snapshot_loaded *l = NULL;
	int rc = sq_snapshot_load(path, 0, &l);
	if (rc)
		fprintf(stderr, "  load: %s: %s\n", sq_error_name(rc), sq_last_error());
	assert_int_equal(rc, 0);
	assert_int_equal(l->state_len, blob_len);
	assert_memory_equal(l->state, blob, blob_len);
	sq_snapshot_loaded_destroy(l);
	unsigned char *got = NULL;
	size_t len = 0;
	assert_int_equal(sq_test_read_file(mem, &got, &len), 0);
	assert_int_equal(len, w.size);
	assert_memory_equal(got, w.region, w.size);
	free(got);
	/* Not a state file: refused by the pair writer, nothing left. */
	sq_migrate_recv_destroy(x.r);
	wl_fini(&w);
	assert_int_equal(wl_init(&w, 1u << 20, 0, seed + 6), 0);
	wl_opts(&w, &o);
	o.state_blob = "not a state file";
	o.state_len = 16;
	assert_int_equal(migrate(&w, &o, &x, &rep), 0);
	snprintf(path, sizeof(path), "%s/bad.snap", dir);
	assert_true(sq_migrate_recv_save_pair(x.r, path, NULL) < 0);
	assert_false(sq_test_exists(path));
	sq_migrate_recv_destroy(x.r);
	wl_fini(&w);
	free(blob);
	sq_test_rmrf(dir);
	free(dir);
}

int main(void)
{
	seed = sq_test_seed("migrate/loopback");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(writer_equality),
		cmocka_unit_test(converges_low_rate),
		cmocka_unit_test(not_converged_fail),
		cmocka_unit_test(not_converged_auto),
		cmocka_unit_test(auto_round_limit),
		cmocka_unit_test(refused_geometry),
		cmocka_unit_test(dropped_mid_round),
		cmocka_unit_test(duplicate_final_tcp),
		cmocka_unit_test(first_failure_wins),
		cmocka_unit_test(caller_fds),
		cmocka_unit_test(nobody_there),
		cmocka_unit_test(save_as_pair),
	};
	return cmocka_run_group_tests_name("migrate/loopback", tests, NULL, NULL);
}
