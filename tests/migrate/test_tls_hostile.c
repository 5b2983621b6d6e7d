/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hostile-stream cases of test_stream.c sent through an authenticated
 * TLS 1.3 connection on loopback: a peer holding the key is still an
 * untrusted stream, and every check must hold inside TLS as it does in the
 * clear (the same codes, nothing past the first valid frame applied).
 * The bytes are built by builder.h and written by a raw TLS client.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <sys/socket.h>

#include <squib/error.h>
#include <squib/migrate.h>

#include "builder.h"
#include "migrate/net.h"
#include "migrate/tls.h"
#include "tls_fixture.h"

#define PAGES 64u
#define SIZE ((size_t)PAGES * SQ_PAGE_SIZE)
#define SESSION 0x1122334455667788ull

static struct tls_fx fx;
static const char *psk;
static uint8_t pat[2][SQ_PAGE_SIZE * 2];

static int group_setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < sizeof(pat[0]); i++) {
		pat[0][i] = (uint8_t)(i * 7u + 1u);
		pat[1][i] = (uint8_t)(i * 13u + 5u);
	}
	if (fx_init(&fx))
		return -1;
	psk = fx_psk(&fx, "k.psk", 0600);
	return psk ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	fx_fini(&fx);
	return 0;
}

struct tx_raw {
	const struct bld *b;
	const char *addr;
	pthread_t thr;
};

/* Connect with TLS (the right key) and write the built bytes as they are. */
static void *raw_sender(void *arg)
{
	struct tx_raw *t = arg;
	struct sq_migrate_link_opts l = fx_psk_link(psk);
	struct sq_mig_tls_ctx *ctx = NULL;
	struct sq_mig_tls *tls = NULL;
	int fd = -1;
	uint8_t sink[256];

	if (sq_mig_tls_ctx_new(&l, 0, &ctx) || sq_mig_connect(t->addr, 3000, &fd) ||
	    sq_mig_tls_connect(ctx, fd, sq_mig_now() + 3.0, &tls))
		goto out;
	if (sq_mig_tls_write(tls, t->b->buf, t->b->len) == 0) {
		shutdown(fd, SHUT_WR);
		while (sq_mig_tls_read(tls, sink, sizeof(sink)) > 0)
			; /* the receiver's replies, until it closes */
	}
out:
	sq_mig_tls_free(tls);
	sq_mig_tls_ctx_free(ctx);
	if (fd >= 0)
		close(fd);
	return NULL;
}

/*
 * Send @b over TLS to a receiver of that one connection: it must fail with
 * @code, incomplete, with at most page 0 (the first frame) applied.
 */
static void hostile(struct bld *b, int code)
{
	static uint8_t dst[SIZE];
	struct sq_migrate_link_opts l = fx_psk_link(psk);
	struct rx_thread x;
	struct tx_raw t = { .b = b };

	memset(dst, 0, sizeof(dst));
	assert_int_equal(rx_one_start(&x, &l, dst, sizeof(dst)), 0);
	t.addr = x.addr;
	assert_int_equal(pthread_create(&t.thr, NULL, raw_sender, &t), 0);
	int rc = rx_thread_join(&x);
	pthread_join(t.thr, NULL);
	fprintf(stderr, "  receiver: %s: %s\n", sq_error_name(rc), x.msg);
	assert_int_equal(rc, code);
	struct sq_migrate_recv_stats st = SQ_INIT(struct sq_migrate_recv_stats);
	sq_migrate_recv_stats(x.r, &st);
	assert_int_equal(st.complete, 0);
	for (size_t i = SQ_PAGE_SIZE; i < SIZE; i++)
		if (dst[i])
			fail_msg("byte %zu of the destination written", i);
	struct sq_migrate_link_report lr = SQ_INIT(struct sq_migrate_link_report);
	sq_migrate_recv_link_report(x.r, &lr);
	assert_true(!strcmp(lr.tls, "user") || !strcmp(lr.tls, "ktls") || !strcmp(lr.tls, "off"));
	sq_migrate_recv_destroy(x.r);
	bld_free(b);
}

/* A stream whose first page frame (page 0, pattern 0) is valid. */
static void start(struct bld *b)
{
	memset(b, 0, sizeof(*b));
	bld_hello(b, SESSION, SIZE, 0, 1);
	bld_pages(b, 1, 0, 1, pat[0]);
}

static void handshakes(void **state)
{
	(void)state;
	struct bld b;

	start(&b);
	b.buf[0] ^= 0x40;
	hostile(&b, SQ_E_STREAM_MAGIC);
	start(&b);
	sq_mig_put16(b.buf + 8, 1);
	hostile(&b, SQ_E_STREAM_VERSION);
	start(&b);
	b.buf[20] ^= 1;
	hostile(&b, SQ_E_STREAM_CRC);
	start(&b);
	b.len = 10;
	hostile(&b, SQ_E_STREAM_TRUNCATED);
}

static void frames(void **state)
{
	(void)state;
	struct bld b;
	size_t at;

	start(&b);
	bld_pages(&b, 1, PAGES - 1, 2, pat[1]);
	hostile(&b, SQ_E_STREAM_RANGE);
	start(&b);
	at = bld_pages(&b, 1, 5, 2, pat[1]);
	b.buf[at + SQ_MIG_FRAME_HDR + 4097] ^= 0x80;
	hostile(&b, SQ_E_STREAM_CRC);
	start(&b);
	at = bld_zero(&b, 1, 7, 1);
	b.buf[at + 17] ^= 0x10;
	hostile(&b, SQ_E_STREAM_CRC);
	start(&b);
	bld_pages(&b, 1, 5, 2, pat[1]);
	b.len -= 100;
	hostile(&b, SQ_E_STREAM_TRUNCATED);
	start(&b);
	bld_frame(&b, SQ_MIG_PAGES, SQ_MIG_F_ZERO, 1, 0, SQ_MIG_MAX_PAYLOAD + SQ_PAGE_SIZE, NULL, 0);
	hostile(&b, SQ_E_STREAM_OVERSIZE);
	start(&b);
	bld_frame(&b, SQ_MIG_STATE, 0, 1, 0, 0x7fffffff, NULL, 0);
	hostile(&b, SQ_E_STREAM_OVERSIZE);
	start(&b);
	bld_frame(&b, 9, 0, 1, 0, 0, NULL, 0);
	hostile(&b, SQ_E_STREAM_MALFORMED);
	start(&b);
	bld_frame(&b, SQ_MIG_PAGES, 0, 1, 100, SQ_PAGE_SIZE, pat[1], SQ_PAGE_SIZE);
	hostile(&b, SQ_E_STREAM_MALFORMED);
	start(&b);
	b.seq++;
	bld_pages(&b, 1, 3, 1, pat[1]);
	hostile(&b, SQ_E_STREAM_ORDER);
}

static void endings(void **state)
{
	(void)state;
	struct bld b;

	start(&b);
	hostile(&b, SQ_E_DISCONNECTED);
	start(&b);
	bld_final(&b, SESSION, 1, NULL, 0, NULL, 0);
	bld_final(&b, SESSION, 1, NULL, 0, NULL, 0);
	hostile(&b, SQ_E_STREAM_DUPLICATE);
	start(&b);
	bld_final(&b, SESSION, 1, NULL, 0, NULL, 0);
	bld_pages(&b, 1, 9, 1, pat[1]);
	hostile(&b, SQ_E_STREAM_MALFORMED);
	start(&b);
	b.pages++;
	bld_final(&b, SESSION, 1, NULL, 0, NULL, 0);
	hostile(&b, SQ_E_STREAM_TOTALS);
	start(&b);
	bld_frame(&b, SQ_MIG_ABORT, 0, 1, 0, 0, NULL, 0);
	hostile(&b, SQ_E_CANCELED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(handshakes),
		cmocka_unit_test(frames),
		cmocka_unit_test(endings),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
