/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Migration over TLS 1.3 on loopback (127.0.0.1, port 0): verified live
 * migrations authenticated by certificates and by a pre-shared key with a
 * writer running; refusals (plaintext sender, wrong key, untrusted and
 * expired certificates, key files open to others) with their specific
 * errors on both ends and the receiver's region untouched; an accepting
 * receiver that refuses such peers and then takes the real sender; kernel
 * TLS where the kernel offers it. Keys and certificates are made at test
 * time (tls_fixture.h). The hostile-stream cases through TLS are in
 * test_tls_hostile.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <sys/socket.h>

#include <squib/error.h>
#include <squib/migrate.h>

#include "migrate/net.h"
#include "tls_fixture.h"
#include "workload.h"

const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
	return "race:wl_writer\nrace:sq_mig_copy_live\n";
}

#define RX_FILL 0xa5
#define SMALL_PAGES 64u
#define SMALL_SIZE ((size_t)SMALL_PAGES * SQ_PAGE_SIZE)

static struct tls_fx fx;
static struct fx_ca ca, rogue;
static const char *recv_crt, *recv_key, *send_crt, *send_key, *rogue_crt, *rogue_key;
static const char *old_crt, *old_key, *open_key_crt, *open_key, *psk_a, *psk_b, *psk_open;

static int group_setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	if (fx_init(&fx) || fx_ca_make(&fx, &ca, "ca") || fx_ca_make(&fx, &rogue, "rogue-ca"))
		return -1;
	const long day = 86400;
	if (fx_leaf(&fx, &ca, "recv", -3600, 30 * day, 0600, &recv_crt, &recv_key) ||
	    fx_leaf(&fx, &ca, "send", -3600, 30 * day, 0600, &send_crt, &send_key) ||
	    fx_leaf(&fx, &rogue, "rogue", -3600, 30 * day, 0600, &rogue_crt, &rogue_key) ||
	    fx_leaf(&fx, &ca, "old", -10 * day, -day, 0600, &old_crt, &old_key) ||
	    fx_leaf(&fx, &ca, "loose", -3600, 30 * day, 0640, &open_key_crt, &open_key))
		return -1;
	psk_a = fx_psk(&fx, "a.psk", 0600);
	psk_b = fx_psk(&fx, "b.psk", 0600);
	psk_open = fx_psk(&fx, "open.psk", 0644);
	return psk_a && psk_b && psk_open ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	fx_ca_free(&ca);
	fx_ca_free(&rogue);
	fx_fini(&fx);
	return 0;
}

/* No message may carry a key file's bytes. */
static void no_key_in(const char *msg)
{
	const char *keys[] = { psk_a, psk_b, psk_open };
	for (unsigned i = 0; i < 3; i++) {
		char hex[65] = "";
		FILE *f = fopen(keys[i], "r");
		assert_non_null(f);
		assert_int_equal(fread(hex, 1, 64, f), 64);
		fclose(f);
		assert_null(strstr(msg, hex));
		hex[16] = 0; /* nor a piece of one */
		assert_null(strstr(msg, hex));
	}
}

/* An accepting receiver thread on a secured link; region NULL: its own mapping. */
static void rx_start(struct rx_thread *x, const struct sq_migrate_link_opts *link, void *region,
		     size_t size, int session_ms)
{
	struct sq_migrate_recv_opts o = { .size = sizeof(o), .region = region, .region_size = size,
					  .mem_fd = -1,
					  .timeout_ms = 5000, .session_ms = session_ms };
	memset(x, 0, sizeof(*x));
	assert_int_equal(sq_migrate_listen("127.0.0.1:0", &x->lfd, &x->port), 0);
	snprintf(x->addr, sizeof(x->addr), "127.0.0.1:%u", x->port);
	assert_int_equal(sq_migrate_recv_create(&o, &x->r), 0);
	if (link)
		assert_int_equal(sq_migrate_recv_set_link(x->r, link), 0);
	assert_int_equal(pthread_create(&x->thr, NULL, rx_thread_main, x), 0);
}

/* A verified live migration of 16 MiB with a writer (8 MiB/s), over @rx / @tx links. */
static void live(const struct sq_migrate_link_opts *rx_link,
		 const struct sq_migrate_link_opts *tx_link, unsigned nconns, char tls_out[8])
{
	struct wl w;
	struct sq_migrate_send_opts o = SQ_INIT(struct sq_migrate_send_opts);
	struct sq_migrate_report rep = SQ_INIT(struct sq_migrate_report);
	struct sq_migrate_link_report tl = SQ_INIT(struct sq_migrate_link_report);
	struct sq_migrate_link_report rl = SQ_INIT(struct sq_migrate_link_report);
	struct rx_thread x;

	assert_int_equal(wl_init(&w, 16u << 20, 8.0 * 1048576, 7), 0);
	wl_opts(&w, &o);
	o.nconns = nconns;
	o.bandwidth_limit = 32u << 20;
	o.downtime_ms = 30;
	o.timeout_ms = 5000;
	/* Sanitizer builds on a busy machine move a few MiB/s: throttle the
	 * writer rather than give up when the link is slower than it. */
	o.policy = SQ_MIGRATE_AUTO_CONVERGE;
	rx_start(&x, rx_link, NULL, 0, 0);
	o.to = x.addr;
	wl_start(&w);
	int rc = sq_migrate_send_link(&o, tx_link, &rep, &tl);
	if (rc)
		fprintf(stderr, "  sender: %s: %s\n", sq_error_name(rc), sq_last_error());
	assert_int_equal(rc, 0);
	assert_int_equal(rx_thread_join(&x), 0);
	assert_true(rep.rounds >= 2);
	assert_true(atomic_load(&w.writes) > 0);
	size_t size;
	uint8_t *dst = sq_migrate_recv_region(x.r, &size);
	assert_int_equal(size, w.size);
	assert_memory_equal(dst, w.region, w.size);
	sq_migrate_recv_link_report(x.r, &rl);
	/* Both ends used TLS; which kind depends on the kernel (tls module). */
	assert_true(!strcmp(tl.tls, "user") || !strcmp(tl.tls, "ktls"));
	assert_true(!strcmp(rl.tls, "user") || !strcmp(rl.tls, "ktls"));
	if (tx_link->no_ktls)
		assert_string_equal(tl.tls, "user");
	if (rx_link->no_ktls)
		assert_string_equal(rl.tls, "user");
	fprintf(stderr, "  tls: sender %s, receiver %s; %u rounds\n", tl.tls, rl.tls, rep.rounds);
	if (tls_out)
		memcpy(tls_out, tl.tls, 8);
	sq_migrate_recv_destroy(x.r);
	wl_fini(&w);
}

static void psk_writer(void **state)
{
	(void)state;
	struct sq_migrate_link_opts l = fx_psk_link(psk_a);
	live(&l, &l, 2, NULL);
}

static void cert_writer(void **state)
{
	(void)state;
	struct sq_migrate_link_opts rx = fx_cert_link(recv_crt, recv_key, ca.cert_path);
	struct sq_migrate_link_opts tx = fx_cert_link(send_crt, send_key, ca.cert_path);
	rx.no_ktls = tx.no_ktls = 1;
	live(&rx, &tx, 3, NULL);
}

/* In-memory key bytes work like a key file of the same bytes. */
static void psk_in_memory(void **state)
{
	(void)state;
	static const char key[] = "0123456789abcdef0123456789abcdef-in-memory";
	struct sq_migrate_link_opts l = { .size = sizeof(struct sq_migrate_link_opts),
					.tls = SQ_MIGRATE_TLS_PSK, .psk = key,
					  .psk_len = sizeof(key) - 1 };
	const char *path = fx_path(&fx, "mem.psk");
	assert_int_equal(fx_write(path, key, sizeof(key) - 1, 0600), 0);
	struct sq_migrate_link_opts f = fx_psk_link(path);
	live(&l, &f, 1, NULL);
}

/*
 * Kernel TLS: where the kernel offers it (TCP_ULP "tls"), a session must
 * report "ktls"; where it does not, it must say "user", and the test is
 * skipped with the reason.
 */
static void ktls_where_offered(void **state)
{
	(void)state;
	char why[128];
	int have = fx_kernel_tls(why, sizeof(why));
	struct sq_migrate_link_opts l = fx_psk_link(psk_a);
	char used[8] = "";

	live(&l, &l, 1, used);
	if (!have) {
		assert_string_equal(used, "user");
		fprintf(stderr, "  kernel TLS not offered here (%s): user-space TLS, as reported\n",
			why);
		skip();
	}
	assert_string_equal(used, "ktls");
}

/*
 * A migration of a small static region over one connection into a
 * receiver given that connection (sq_migrate_recv_fds: a refused handshake
 * is its result), its region pre-filled with RX_FILL: it must be refused
 * with @rx_code on the receiver and @tx_code on the sender, and not one
 * byte of the region may change.
 */
static void refused(const struct sq_migrate_link_opts *rx_link,
		    const struct sq_migrate_link_opts *tx_link, int rx_code, int tx_code)
{
	static uint8_t src[SMALL_SIZE], dst[SMALL_SIZE], fill[SMALL_SIZE];
	struct sq_migrate_send_opts o = SQ_INIT(struct sq_migrate_send_opts);
	struct rx_thread x;
	struct wl w;

	memset(dst, RX_FILL, sizeof(dst));
	memset(fill, RX_FILL, sizeof(fill));
	memset(src, 0x3c, sizeof(src));
	assert_int_equal(wl_init(&w, SMALL_SIZE, 0, 1), 0);
	wl_opts(&w, &o);
	o.region = src; /* pages from src; the tracker only supplies (no) dirty runs */
	o.nconns = 1;
	o.timeout_ms = 3000;
	assert_int_equal(rx_one_start(&x, rx_link, dst, sizeof(dst)), 0);
	o.to = x.addr;
	int rc = sq_migrate_send_link(&o, tx_link, NULL, NULL);
	char smsg[512];
	snprintf(smsg, sizeof(smsg), "%s", sq_last_error());
	int rrc = rx_thread_join(&x);
	fprintf(stderr, "  receiver: %s: %s\n  sender: %s: %s\n", sq_error_name(rrc), x.msg,
		sq_error_name(rc), smsg);
	assert_int_equal(rrc, rx_code);
	assert_int_equal(rc, tx_code);
	no_key_in(x.msg);
	no_key_in(smsg);
	assert_memory_equal(dst, fill, sizeof(dst));
	struct sq_migrate_recv_stats st = SQ_INIT(struct sq_migrate_recv_stats);
	sq_migrate_recv_stats(x.r, &st);
	assert_int_equal(st.frames, 0);
	assert_int_equal(st.complete, 0);
	sq_migrate_recv_destroy(x.r);
	wl_fini(&w);
}

static void plaintext_refused(void **state)
{
	(void)state;
	struct sq_migrate_link_opts rx = fx_psk_link(psk_a);
	/* NULL link: sq_migrate_send's plaintext; it hears why in plaintext. */
	refused(&rx, NULL, SQ_E_TLS_REQUIRED, SQ_E_TLS_REQUIRED);
	struct sq_migrate_link_opts rxc = fx_cert_link(recv_crt, recv_key, ca.cert_path);
	struct sq_migrate_link_opts plain = { .size = sizeof(struct sq_migrate_link_opts),
					.tls = SQ_MIGRATE_PLAINTEXT };
	refused(&rxc, &plain, SQ_E_TLS_REQUIRED, SQ_E_TLS_REQUIRED);
}

static void wrong_psk(void **state)
{
	(void)state;
	struct sq_migrate_link_opts rx = fx_psk_link(psk_a), tx = fx_psk_link(psk_b);
	refused(&rx, &tx, SQ_E_TLS_AUTH, SQ_E_TLS_AUTH);
	/* A certificate peer and a PSK peer do not meet either. */
	struct sq_migrate_link_opts txc = fx_cert_link(send_crt, send_key, ca.cert_path);
	refused(&rx, &txc, SQ_E_TLS, SQ_E_TLS);
}

static void untrusted_cert(void **state)
{
	(void)state;
	struct sq_migrate_link_opts rx = fx_cert_link(recv_crt, recv_key, ca.cert_path);
	struct sq_migrate_link_opts tx = fx_cert_link(rogue_crt, rogue_key, ca.cert_path);
	refused(&rx, &tx, SQ_E_CERT_UNTRUSTED, SQ_E_CERT_UNTRUSTED);
	/* A sender that does not trust the receiver's CA stops first. */
	tx = fx_cert_link(send_crt, send_key, rogue.cert_path);
	refused(&rx, &tx, SQ_E_CERT_UNTRUSTED, SQ_E_CERT_UNTRUSTED);
}

static void expired_cert(void **state)
{
	(void)state;
	struct sq_migrate_link_opts rx = fx_cert_link(recv_crt, recv_key, ca.cert_path);
	struct sq_migrate_link_opts tx = fx_cert_link(old_crt, old_key, ca.cert_path);
	refused(&rx, &tx, SQ_E_CERT_EXPIRED, SQ_E_CERT_EXPIRED);
}

/*
 * An accepting receiver refuses a plaintext sender and a wrong key, then
 * takes the real sender; with nobody else coming, its session deadline
 * names the last refusal.
 */
static void refusals_then_real_sender(void **state)
{
	(void)state;
	struct sq_migrate_link_opts good = fx_psk_link(psk_a), bad = fx_psk_link(psk_b);
	struct sq_migrate_send_opts o = SQ_INIT(struct sq_migrate_send_opts);
	struct rx_thread x;
	struct wl w;

	assert_int_equal(wl_init(&w, 4u << 20, 4.0 * 1048576, 3), 0);
	wl_opts(&w, &o);
	o.timeout_ms = 3000;
	o.policy = SQ_MIGRATE_AUTO_CONVERGE;
	rx_start(&x, &good, NULL, 0, 20000);
	o.to = x.addr;
	assert_int_equal(sq_migrate_send(&o, NULL), SQ_E_TLS_REQUIRED);
	assert_int_equal(sq_migrate_send_link(&o, &bad, NULL, NULL), SQ_E_TLS_AUTH);
	wl_start(&w);
	int rc = sq_migrate_send_link(&o, &good, NULL, NULL);
	if (rc)
		fprintf(stderr, "  sender: %s\n", sq_last_error());
	assert_int_equal(rc, 0);
	assert_int_equal(rx_thread_join(&x), 0);
	size_t size;
	uint8_t *dst = sq_migrate_recv_region(x.r, &size);
	assert_int_equal(size, w.size);
	assert_memory_equal(dst, w.region, w.size);
	sq_migrate_recv_destroy(x.r);

	rx_start(&x, &good, NULL, 0, 1500);
	o.to = x.addr;
	assert_int_equal(sq_migrate_send_link(&o, &bad, NULL, NULL), SQ_E_TLS_AUTH);
	assert_int_equal(rx_thread_join(&x), SQ_E_TIMEOUT);
	fprintf(stderr, "  receiver: %s\n", x.msg);
	assert_non_null(strstr(x.msg, "session deadline passed"));
	assert_non_null(strstr(x.msg, "SQ_E_TLS_AUTH"));
	assert_null(sq_migrate_recv_region(x.r, &size));
	sq_migrate_recv_destroy(x.r);
	wl_fini(&w);
}

static void key_file_modes(void **state)
{
	(void)state;
	struct sq_migrate_recv_opts o = { .size = sizeof(o), .mem_fd = -1 };
	struct sq_migrate_recv *r;
	struct sq_migrate_link_opts l = fx_psk_link(psk_open);

	assert_int_equal(sq_migrate_recv_create(&o, &r), 0);
	assert_int_equal(sq_migrate_recv_set_link(r, &l), SQ_E_KEY_PERMS);
	assert_non_null(strstr(sq_last_error(), "open.psk"));
	assert_non_null(strstr(sq_last_error(), "0644"));
	no_key_in(sq_last_error());
	l = fx_cert_link(open_key_crt, open_key, ca.cert_path);
	assert_int_equal(sq_migrate_recv_set_link(r, &l), SQ_E_KEY_PERMS);
	assert_non_null(strstr(sq_last_error(), "loose.key"));
	assert_non_null(strstr(sq_last_error(), "0640"));
	/* A missing key file, a directory, a short key, no key. */
	l = fx_psk_link("/nonexistent/key");
	assert_int_equal(sq_migrate_recv_set_link(r, &l), SQ_E_IO);
	assert_non_null(strstr(sq_last_error(), "/nonexistent/key"));
	l = fx_psk_link(fx.dir);
	assert_int_equal(sq_migrate_recv_set_link(r, &l), SQ_E_INVAL);
	l = (struct sq_migrate_link_opts){ .size = sizeof(struct sq_migrate_link_opts),
					.tls = SQ_MIGRATE_TLS_PSK, .psk = "short", .psk_len = 5 };
	assert_int_equal(sq_migrate_recv_set_link(r, &l), SQ_E_INVAL);
	l = (struct sq_migrate_link_opts){ .size = sizeof(struct sq_migrate_link_opts),
					.tls = SQ_MIGRATE_TLS_PSK };
	assert_int_equal(sq_migrate_recv_set_link(r, &l), SQ_E_INVAL);
	l = (struct sq_migrate_link_opts){ .size = sizeof(struct sq_migrate_link_opts),
					.tls = SQ_MIGRATE_TLS_CERT, .cert_file = send_crt };
	assert_int_equal(sq_migrate_recv_set_link(r, &l), SQ_E_INVAL);
	/* A key that is not the certificate's. */
	l = fx_cert_link(recv_crt, send_key, ca.cert_path);
	assert_int_equal(sq_migrate_recv_set_link(r, &l), SQ_E_TLS);
	l = (struct sq_migrate_link_opts){ .size = sizeof(struct sq_migrate_link_opts),
					.tls = (enum sq_migrate_tls)7 };
	assert_int_equal(sq_migrate_recv_set_link(r, &l), SQ_E_INVAL);
	l = fx_psk_link(psk_open);
	l.size = (uint32_t)offsetof(struct sq_migrate_link_opts, no_ktls); /* below the first layout */
	assert_int_equal(sq_migrate_recv_set_link(r, &l), SQ_E_INVAL);
	assert_non_null(strstr(sq_last_error(), "sq_migrate_link_opts"));
	sq_migrate_recv_destroy(r);

	/* The sender checks before it connects anywhere: port 1 is never dialled. */
	struct sq_migrate_send_opts so = SQ_INIT(struct sq_migrate_send_opts);
	struct sq_migrate_link_report lr = SQ_INIT(struct sq_migrate_link_report);
	struct wl w;
	assert_int_equal(wl_init(&w, SMALL_SIZE, 0, 1), 0);
	wl_opts(&w, &so);
	so.to = "127.0.0.1:1";
	l = fx_psk_link(psk_open);
	assert_int_equal(sq_migrate_send_link(&so, &l, NULL, &lr), SQ_E_KEY_PERMS);
	assert_string_equal(lr.tls, "off");
	/* Link options and report are size-prefixed: size 0 is refused first,
	 * before the key file's mode, and a refused report is left alone. */
	l.size = 0;
	assert_int_equal(sq_migrate_send_link(&so, &l, NULL, &lr), SQ_E_INVAL);
	assert_non_null(strstr(sq_last_error(), "sq_migrate_link_opts"));
	l = fx_psk_link(psk_open);
	lr = (struct sq_migrate_link_report){ .size = 0, .tls = "x" };
	assert_int_equal(sq_migrate_send_link(&so, &l, NULL, &lr), SQ_E_INVAL);
	assert_non_null(strstr(sq_last_error(), "sq_migrate_link_report"));
	assert_string_equal(lr.tls, "x");
	wl_fini(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(psk_writer),
		cmocka_unit_test(cert_writer),
		cmocka_unit_test(psk_in_memory),
		cmocka_unit_test(plaintext_refused),
		cmocka_unit_test(wrong_psk),
		cmocka_unit_test(untrusted_cert),
		cmocka_unit_test(expired_cert),
		cmocka_unit_test(refusals_then_real_sender),
		cmocka_unit_test(key_file_modes),
		cmocka_unit_test(ktls_where_offered),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
