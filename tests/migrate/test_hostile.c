/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The receiver against hostile and broken peers, over loopback TCP:
 *   - zero-page floods for a 64 GiB declared region: the receiver (its own
 *     process) keeps its peak RSS (VmHWM) under the bound of
 *     docs/SECURITY.md, for chunk-aligned frames and for scattered pages;
 *   - a sender trickling one byte per second hits the handshake deadline
 *     (and the receiver then serves the real sender) or the session
 *     deadline, whatever the per-read timeout;
 *   - a port probe, a stray client and bad handshakes before the real
 *     sender are refused one by one, and the migration that follows is
 *     verified byte for byte.
 * SQ_FLOOD_MB sets the wire bytes of each flood (default 512, so 1 GB in
 * all); sanitizer builds use less and do not check RSS (their allocators
 * add memory of their own).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <squib/error.h>
#include <squib/migrate.h>

#include "builder.h"
#include "helpers.h"
#include "workload.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
	return "race:wl_writer\nrace:sq_mig_copy_live\n";
}

#define DECLARED (64ull << 30)
/*
 * docs/SECURITY.md, "Receiver memory": for a stream of zero-page frames the
 * receiver commits at most the tag directory (8 bytes per 64 declared
 * pages: 2 MiB for 64 GiB), one 256-byte tag array per 64-page chunk that
 * received a partial update (4 bytes per declared page at most) plus one
 * partly used slab of 255 arrays per lock stripe, and one 2 MiB receive
 * buffer per connection. Chunk-aligned zero frames allocate no array.
 */
#define DIR_BOUND (DECLARED / 4096 / 64 * 8)
#define ARRAY_BOUND (DECLARED / 4096 * 4 + 64ull * 256 * 256)
#define BUF_BOUND (2ull << 20)
#define SLACK (4ull << 20) /* thread stack, libc arenas */

static uint64_t seed;

static int dial(unsigned port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static long vm_hwm_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

struct flood_out {
	int rc;
	long before_kb, after_kb;
};

/* The receiver in a child process, so that VmHWM is its own. */
static pid_t spawn_receiver(int lfd, int wr)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	struct sq_migrate_recv_opts ro = { .size = sizeof(ro), .mem_fd = -1, .timeout_ms = 20000 };
	struct sq_migrate_recv *r = NULL;
	struct flood_out out = { 0 };
	out.rc = sq_migrate_recv_create(&ro, &r);
	out.before_kb = vm_hwm_kb();
	if (!out.rc)
		out.rc = sq_migrate_recv_accept(r, lfd);
	out.after_kb = vm_hwm_kb();
	if (out.rc)
		fprintf(stderr, "  receiver: %s\n", sq_last_error());
	(void)!write(wr, &out, sizeof(out));
	sq_migrate_recv_destroy(r);
	_exit(0);
}

static void send_buf(int fd, struct bld *b)
{
	size_t off = 0;

	while (off < b->len) {
		ssize_t n = send(fd, b->buf + off, b->len - off, MSG_NOSIGNAL);
		assert_true(n > 0);
		off += (size_t)n;
	}
	b->len = 0;
}

/*
 * Stream zero-page frames for a DECLARED region until @mb MiB went out,
 * then a valid final frame; @scatter: single pages at random places (each
 * round different), else 1 MiB frames sweeping the region, a new round per
 * sweep. Returns the receiver's peak RSS growth in bytes.
 */
static uint64_t flood(int scatter, unsigned mb)
{
	int lfd, pfd[2];
	unsigned port;

	assert_int_equal(sq_migrate_listen("127.0.0.1:0", &lfd, &port), 0);
	assert_int_equal(pipe(pfd), 0);
	pid_t pid = spawn_receiver(lfd, pfd[1]);
	assert_true(pid > 0);
	close(pfd[1]);
	int fd = dial(port);
	struct bld b = { 0 };
	uint64_t sid = 0x5eed0000 + (unsigned)scatter, s = seed + (unsigned)scatter;
	bld_hello(&b, sid, DECLARED, 0, 1);
	send_buf(fd, &b);
	struct sq_mig_result res;
	assert_int_equal(read_reply(fd, &res), 0);
	assert_int_equal(res.status, 0);

	const uint64_t npages = DECLARED / 4096, wire = (uint64_t)mb << 20;
	uint64_t sent = 0, at = 0;
	uint32_t round = 1;
	while (sent < wire) {
		for (unsigned i = 0; i < 16384; i++) {
			if (scatter) {
				bld_zero(&b, round, sq_test_rand(&s) % npages, 1);
				if (b.frames % 65536 == 0)
					round++;
			} else {
				bld_zero(&b, round, at, 256);
				at += 256;
				if (at == npages) {
					at = 0;
					round++;
				}
			}
		}
		sent += b.len;
		send_buf(fd, &b);
	}
	bld_final(&b, sid, 1, NULL, 0, NULL, 0);
	send_buf(fd, &b);
	assert_int_equal(read_reply(fd, &res), 0);
	assert_int_equal(res.phase, SQ_MIG_PHASE_FINAL);
	assert_int_equal(res.status, 0);
	assert_int_equal(read_reply(fd, &res), 0);
	assert_int_equal(res.phase, SQ_MIG_PHASE_COMMIT);
	assert_int_equal(res.status, 0);
	struct flood_out out;
	assert_int_equal(read(pfd[0], &out, sizeof(out)), (ssize_t)sizeof(out));
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	close(fd);
	close(lfd);
	close(pfd[0]);
	bld_free(&b);
	assert_int_equal(out.rc, 0);
	uint64_t grew = (uint64_t)(out.after_kb - out.before_kb) * 1024;
	fprintf(stderr, "  %s: %llu MiB of frames (last round %u): peak RSS %ld -> %ld kB\n",
		scatter ? "scattered pages" : "aligned sweeps", (unsigned long long)(sent >> 20),
		round, out.before_kb, out.after_kb);
	return grew;
}

static unsigned flood_mb(void)
{
	const char *e = getenv("SQ_FLOOD_MB");
	unsigned v = e ? (unsigned)strtoul(e, NULL, 10) : 0;

	return v ? v : SANITIZED ? 32 : 512;
}

static void zero_flood_aligned(void **state)
{
	(void)state;
	uint64_t grew = flood(0, flood_mb());
	if (!SANITIZED)
		assert_true(grew <= DIR_BOUND + BUF_BOUND + SLACK);
}

static void zero_flood_scattered(void **state)
{
	(void)state;
	uint64_t grew = flood(1, flood_mb());
	if (!SANITIZED)
		assert_true(grew <= DIR_BOUND + ARRAY_BOUND + BUF_BOUND + SLACK);
}

/* ---------------------------------------------------------- slow peers */

struct trickle {
	int fd;
	const uint8_t *bytes;
	size_t len;
	double stop_at;
	pthread_t thr;
};

/* One byte per second until the bytes end, a send fails or time is up. */
static void *trickle_main(void *arg)
{
	struct trickle *t = arg;

	for (size_t i = 0; i < t->len && sq_clock_s() < t->stop_at; i++) {
		if (send(t->fd, t->bytes + i, 1, MSG_NOSIGNAL) != 1)
			break;
		for (int k = 0; k < 10 && sq_clock_s() < t->stop_at; k++)
			usleep(100000);
	}
	return NULL;
}

struct plain {
	uint8_t *region;
	size_t size;
	struct sq_migrate_send_opts o;
};

static int nothing(void *ctx, void **set, const struct sq_run **runs, size_t *nruns)
{
	(void)ctx;
	*set = NULL;
	*runs = NULL;
	*nruns = 0;
	return 0;
}

static void no_set(void *ctx, void *set)
{
	(void)ctx;
	(void)set;
}

static int no_pause(void *ctx)
{
	(void)ctx;
	return 0;
}

static void plain_init(struct plain *p, const char *to)
{
	p->size = 1u << 20;
	p->region = malloc(p->size);
	assert_non_null(p->region);
	uint64_t s = seed;
	for (size_t i = 0; i < p->size; i += 8) {
		uint64_t v = sq_test_rand(&s);
		memcpy(p->region + i, &v, 8);
	}
	p->o = (struct sq_migrate_send_opts){ .size = sizeof(struct sq_migrate_send_opts), .to = to, .region = p->region, .region_size = p->size,
					      .source = { nothing, no_set, no_set, NULL },
					      .pause = no_pause, .timeout_ms = 10000 };
}

/* A client trickling its handshake holds the listener for the handshake
 * deadline only; the real sender queued behind it then migrates. */
static void slow_handshake(void **state)
{
	(void)state;
	struct rx_thread x = { 0 };
	struct sq_migrate_recv_opts ro = { .size = sizeof(ro), .mem_fd = -1, .timeout_ms = 10000,
					   .handshake_ms = 1500, .session_ms = 30000 };
	struct bld b = { 0 };
	struct plain p;

	assert_int_equal(rx_thread_start(&x, &ro), 0);
	bld_hello(&b, 99, 1u << 20, 0, 1);
	struct trickle t = { .fd = dial(x.port), .bytes = b.buf, .len = b.len,
			     .stop_at = sq_clock_s() + 5.0 };
	assert_int_equal(pthread_create(&t.thr, NULL, trickle_main, &t), 0);
	usleep(200000);
	plain_init(&p, x.addr);
	double t0 = sq_clock_s();
	int rc = sq_migrate_send(&p.o, NULL);
	if (rc)
		fprintf(stderr, "  sender: %s\n", sq_last_error());
	assert_int_equal(rc, 0);
	assert_int_equal(rx_thread_join(&x), 0);
	fprintf(stderr, "  real sender done after %.2f s\n", sq_clock_s() - t0);
	size_t size = 0;
	uint8_t *got = sq_migrate_recv_region(x.r, &size);
	assert_int_equal(size, p.size);
	assert_memory_equal(got, p.region, p.size);
	pthread_join(t.thr, NULL);
	/* The slow client was told why, when it listens. */
	struct sq_mig_result res;
	if (read_reply(t.fd, &res) == 0) {
		assert_int_equal(res.status, SQ_E_TIMEOUT);
		assert_non_null(strstr(res.msg, "handshake deadline"));
	}
	close(t.fd);
	sq_migrate_recv_destroy(x.r);
	bld_free(&b);
	free(p.region);
}

/* An admitted sender trickling its frames is cut off at the session
 * deadline, though every byte arrives well within the per-read timeout. */
static void slow_session(void **state)
{
	(void)state;
	static uint8_t page[4096];
	struct rx_thread x = { 0 };
	struct sq_migrate_recv_opts ro = { .size = sizeof(ro), .mem_fd = -1, .timeout_ms = 10000,
					   .handshake_ms = 1000, .session_ms = 2500 };
	struct bld h = { 0 }, b = { 0 };

	assert_int_equal(rx_thread_start(&x, &ro), 0);
	bld_hello(&h, 98, 1u << 20, 0, 1);
	bld_pages(&b, 1, 3, 1, page);
	int fd = dial(x.port);
	double t0 = sq_clock_s();
	send_buf(fd, &h);
	struct sq_mig_result res;
	assert_int_equal(read_reply(fd, &res), 0);
	assert_int_equal(res.status, 0);
	struct trickle t = { .fd = fd, .bytes = b.buf, .len = b.len, .stop_at = t0 + 20.0 };
	assert_int_equal(pthread_create(&t.thr, NULL, trickle_main, &t), 0);
	assert_int_equal(rx_thread_join(&x), SQ_E_TIMEOUT);
	double took = sq_clock_s() - t0;
	fprintf(stderr, "  receiver gave up after %.2f s: %s\n", took, x.msg);
	assert_non_null(strstr(x.msg, "session deadline"));
	assert_true(took < 15.0); /* ended by the deadline, not by the trickle */
	assert_int_equal(read_reply(fd, &res), 0);
	assert_int_equal(res.phase, SQ_MIG_PHASE_FINAL);
	assert_int_equal(res.status, SQ_E_TIMEOUT);
	shutdown(fd, SHUT_RDWR);
	pthread_join(t.thr, NULL);
	close(fd);
	sq_migrate_recv_destroy(x.r);
	bld_free(&h);
	bld_free(&b);
}

/* ------------------------------------------------------------- strays */

static void stray_then_real(void **state)
{
	(void)state;
	struct rx_thread x = { 0 };
	struct sq_migrate_recv_opts ro = { .size = sizeof(ro), .mem_fd = -1, .timeout_ms = 10000, .handshake_ms = 2000 };
	struct sq_mig_result res;
	struct wl w;
	struct sq_migrate_send_opts o = SQ_INIT(struct sq_migrate_send_opts);
	struct sq_migrate_report rep = SQ_INIT(struct sq_migrate_report);

	assert_int_equal(rx_thread_start(&x, &ro), 0);
	/* A port probe: connect, close. */
	close(dial(x.port));
	/* A stray client speaking another protocol. */
	uint8_t junk[SQ_MIG_HELLO_LEN] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
	int fd = dial(x.port);
	assert_int_equal(send(fd, junk, sizeof(junk), MSG_NOSIGNAL), (ssize_t)sizeof(junk));
	assert_int_equal(read_reply(fd, &res), 0);
	assert_int_equal(res.status, SQ_E_STREAM_MAGIC);
	close(fd);
	/* A handshake of the old version, one with a broken CRC, one cut short. */
	struct bld b = { 0 };
	bld_hello(&b, 7, 1u << 20, 0, 1);
	sq_mig_put16(b.buf + 8, 1);
	fd = dial(x.port);
	send_buf(fd, &b);
	assert_int_equal(read_reply(fd, &res), 0);
	assert_int_equal(res.status, SQ_E_STREAM_VERSION);
	close(fd);
	bld_hello(&b, 7, 1u << 20, 0, 1);
	b.buf[20] ^= 1;
	fd = dial(x.port);
	send_buf(fd, &b);
	assert_int_equal(read_reply(fd, &res), 0);
	assert_int_equal(res.status, SQ_E_STREAM_CRC);
	close(fd);
	bld_hello(&b, 7, 1u << 20, 0, 1);
	b.len = 10;
	fd = dial(x.port);
	send_buf(fd, &b);
	shutdown(fd, SHUT_WR);
	assert_int_equal(read_reply(fd, &res), 0);
	assert_int_equal(res.status, SQ_E_STREAM_TRUNCATED);
	close(fd);
	bld_free(&b);
	/* Then the real sender, with a live writer: verified byte for byte. */
	assert_int_equal(wl_init(&w, 8u << 20, 8.0 * 1048576, seed), 0);
	wl_opts(&w, &o);
	o.to = x.addr;
	o.nconns = 3;
	o.timeout_ms = 10000;
	wl_start(&w);
	int rc = sq_migrate_send(&o, &rep);
	if (rc)
		fprintf(stderr, "  sender: %s\n", sq_last_error());
	assert_int_equal(rc, 0);
	assert_int_equal(rx_thread_join(&x), 0);
	size_t size = 0;
	uint8_t *got = sq_migrate_recv_region(x.r, &size);
	assert_int_equal(size, w.size);
	assert_memory_equal(got, w.region, w.size);
	sq_migrate_recv_destroy(x.r);
	wl_fini(&w);
}

/* Strays between the connections of a session: a duplicate index, a
 * foreign session and junk are refused alone; the session completes. */
static void stray_inside_session(void **state)
{
	(void)state;
	static uint8_t page[4096];
	struct rx_thread x = { 0 };
	struct sq_migrate_recv_opts ro = { .size = sizeof(ro), .mem_fd = -1, .timeout_ms = 10000, .handshake_ms = 2000 };
	struct bld b[2] = { 0 }, dup = { 0 }, other = { 0 };
	struct sq_mig_result res;

	memset(page, 0x5a, sizeof(page));
	assert_int_equal(rx_thread_start(&x, &ro), 0);
	for (unsigned i = 0; i < 2; i++)
		bld_hello(&b[i], 77, 1u << 20, i, 2);
	bld_pages(&b[0], 1, 2, 1, page);
	bld_pages(&b[1], 1, 9, 1, page);
	const struct bld *all[2] = { &b[0], &b[1] };
	bld_final(&b[0], 77, 2, all, 2, NULL, 0);
	bld_final(&b[1], 77, 2, all, 2, NULL, 0);
	int fd0 = dial(x.port);
	assert_int_equal(send(fd0, b[0].buf, SQ_MIG_HELLO_LEN, MSG_NOSIGNAL), SQ_MIG_HELLO_LEN);
	assert_int_equal(read_reply(fd0, &res), 0);
	assert_int_equal(res.status, 0);
	/* Index 0 again, then another session's connection 1, then junk. */
	bld_hello(&dup, 77, 1u << 20, 0, 2);
	bld_hello(&other, 78, 1u << 20, 1, 2);
	const struct bld *strays[2] = { &dup, &other };
	for (unsigned i = 0; i < 2; i++) {
		int fd = dial(x.port);
		assert_int_equal(send(fd, strays[i]->buf, strays[i]->len, MSG_NOSIGNAL),
				 (ssize_t)strays[i]->len);
		assert_int_equal(read_reply(fd, &res), 0);
		assert_int_equal(res.status, SQ_E_STREAM_MALFORMED);
		close(fd);
	}
	close(dial(x.port));
	int fd1 = dial(x.port);
	assert_int_equal(send(fd1, b[1].buf, b[1].len, MSG_NOSIGNAL), (ssize_t)b[1].len);
	assert_int_equal(send(fd0, b[0].buf + SQ_MIG_HELLO_LEN, b[0].len - SQ_MIG_HELLO_LEN,
			      MSG_NOSIGNAL), (ssize_t)(b[0].len - SQ_MIG_HELLO_LEN));
	assert_int_equal(rx_thread_join(&x), 0);
	assert_int_equal(read_reply(fd0, &res), 0);
	assert_int_equal(res.phase, SQ_MIG_PHASE_FINAL);
	assert_int_equal(res.status, 0);
	assert_int_equal(read_reply(fd0, &res), 0);
	assert_int_equal(res.phase, SQ_MIG_PHASE_COMMIT);
	assert_int_equal(res.status, 0);
	size_t size = 0;
	uint8_t *got = sq_migrate_recv_region(x.r, &size);
	assert_memory_equal(got + 2 * 4096, page, 4096);
	assert_memory_equal(got + 9 * 4096, page, 4096);
	close(fd0);
	close(fd1);
	sq_migrate_recv_destroy(x.r);
	bld_free(&b[0]);
	bld_free(&b[1]);
	bld_free(&dup);
	bld_free(&other);
}

int main(void)
{
	seed = sq_test_seed("migrate/hostile");
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(zero_flood_aligned),
		cmocka_unit_test(zero_flood_scattered),
		cmocka_unit_test(slow_handshake),
		cmocka_unit_test(slow_session),
		cmocka_unit_test(stray_then_real),
		cmocka_unit_test(stray_inside_session),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
