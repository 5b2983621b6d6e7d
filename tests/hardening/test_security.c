/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Security properties (docs/SECURITY.md):
 *  - snapshot, memory, manifest and state files, and their temp files, are
 *    created 0600 whatever the umask, and a symlink planted at any name the
 *    save uses is replaced, never written through;
 *  - the state and manifest decoders bound their allocations by their
 *    input limits: every length field blown up to a huge value (with the
 *    CRC made valid again) is refused with a specific error, never with
 *    SQ_E_NOMEM, in a child whose address space is capped;
 *  - the migration receiver never writes outside its region and never
 *    sizes anything from an unchecked length;
 *  - CLI paths are used as given: no directory is created on the way to a
 *    missing output directory, relative paths are relative to the cwd;
 *  - load refuses another snapshot's memory file that differs from the
 *    right one only in pages that were zero (holes in the manifest), in
 *    both load modes;
 *  - a manifest of 2 GiB apparent size that is sparse on disk is refused
 *    without reading or allocating it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <squib/crc64.h>
#include <squib/error.h>
#include <squib/manifest.h>
#include <squib/migrate.h>
#include <squib/restore.h>
#include <squib/snapshot.h>
#include <squib/state.h>

#include "helpers.h"
#include "migrate/stream.h"

#define NPAGES 16u
#define SIZE ((size_t)NPAGES * 4096u)

static char *dir;

static char *path_in(const char *d, const char *name)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s", d, name) < 0)
		fail();
	return p;
}

static int file_holds(const char *p, const void *want, size_t n)
{
	unsigned char *got = NULL;
	size_t len = 0;

	if (sq_test_read_file(p, &got, &len))
		return 0;
	int eq = len == n && !memcmp(got, want, n);
	free(got);
	return eq;
}

static int save_pair(const char *state_path, unsigned char fill)
{
	struct sq_microvm_state *s = NULL;
	uint8_t *st = NULL;
	size_t st_len = 0;
	unsigned char *region = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(region != MAP_FAILED);
	memset(region, fill, SIZE);
	assert_int_equal(sq_state_demo(&s), 0);
	assert_int_equal(sq_state_encode(s, &st, &st_len), 0);
	sq_state_destroy(s);
	struct sq_mem_source src = { .base = region, .size = SIZE };
	struct sq_snapshot_save_req req = { .size = sizeof(req), .state_path = state_path, .kind = SQ_SNAPSHOT_FULL,
					    .state = st, .state_len = st_len, .mem = &src,
					    .io = &(struct sq_writer_opts){ .size = sizeof(struct sq_writer_opts), .threads = 1 } };
	int rc = sq_snapshot_save(&req, NULL);

	free(st);
	munmap(region, SIZE);
	return rc;
}

static unsigned mode_of(const char *p)
{
	struct stat st;

	assert_int_equal(lstat(p, &st), 0);
	return (unsigned)st.st_mode & 07777;
}

/* ---------------------------------------------------------------- files */

static void files_are_private(void **state)
{
	(void)state;
	mode_t old = umask(0); /* the library must not rely on the umask */
	char *snap = path_in(dir, "m.snap"), *mem = path_in(dir, "m.mem");
	char *man = path_in(dir, "m.manifest"), *vm = path_in(dir, "vm.state");
	struct sq_microvm_state *s = NULL;

	assert_int_equal(save_pair(snap, 3), 0);
	assert_int_equal(sq_state_demo(&s), 0);
	assert_int_equal(sq_state_save(vm, s), 0);
	sq_state_destroy(s);
	umask(old);
	assert_int_equal(mode_of(snap), 0600);
	assert_int_equal(mode_of(mem), 0600);
	assert_int_equal(mode_of(man), 0600);
	assert_int_equal(mode_of(vm), 0600);
	free(snap);
	free(mem);
	free(man);
	free(vm);
}

static void planted_symlinks_are_not_followed(void **state)
{
	(void)state;
	static const char *const names[] = { "p.snap.lock", "p.mem.lock", "p.manifest.lock",
					     "p.commit.lock", "p.snap", "p.mem", "p.manifest" };
	const size_t n = sizeof(names) / sizeof(names[0]);
	char *victims = sq_test_tmpdir("victims");
	char *snap = path_in(dir, "p.snap");

	assert_non_null(victims);
	for (size_t i = 0; i < n; i++) {
		char *v = path_in(victims, names[i]), *l = path_in(dir, names[i]);

		assert_int_equal(sq_test_write_file(v, "victim", 6), 0);
		chmod(v, 0644);
		assert_int_equal(symlink(v, l), 0);
		free(v);
		free(l);
	}
	assert_int_equal(save_pair(snap, 5), 0);
	for (size_t i = 0; i < n; i++) {
		char *v = path_in(victims, names[i]), *l = path_in(dir, names[i]);
		struct stat st;

		if (!file_holds(v, "victim", 6))
			fail_msg("%s was written through the symlink %s", v, l);
		assert_int_equal(mode_of(v), 0644);
		if (lstat(l, &st) == 0 && S_ISLNK(st.st_mode))
			fail_msg("%s is still a symlink after the save", l);
		free(v);
		free(l);
	}
	struct sq_snapshot_loaded *ld = NULL;

	assert_int_equal(sq_snapshot_load(snap, 0, &ld), 0);
	sq_snapshot_loaded_destroy(ld);
	free(snap);
	sq_test_rmrf(victims);
	free(victims);
}

/* ---------------------------------------------------------------- decoders */

static void fix_trailer(uint8_t *b, size_t len)
{
	uint64_t c = sq_crc64(b, len - 8);

	for (int i = 0; i < 8; i++)
		b[len - 8 + i] = (uint8_t)(c >> (8 * i));
}

/* In a child with the address space capped at its current size + 256 MiB:
 * every 1-, 4- and 8-byte field set to a huge value must be refused by
 * @decode without SQ_E_NOMEM (an allocation sized from the field). */
static void blow_up_fields(const uint8_t *good, size_t len,
			   int (*decode)(const uint8_t *, size_t), const char *what)
{
	fflush(NULL);
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl;
		FILE *f = fopen("/proc/self/statm", "r");
		unsigned long pages = 0;

		if (!f || fscanf(f, "%lu", &pages) != 1)
			_exit(3);
		fclose(f);
		rl.rlim_cur = rl.rlim_max = pages * 4096ul + (256ul << 20);
		setrlimit(RLIMIT_AS, &rl);
		uint8_t *b = malloc(len);
		static const unsigned widths[] = { 1, 4, 8 };
		static const uint8_t fills[] = { 0xff, 0x7f, 0x80 };
		unsigned bad = 0, tried = 0;

		for (size_t off = 0; off + 8 < len; off++) {
			for (int w = 0; w < 3; w++) {
				for (int v = 0; v < 3; v++) {
					if (off + widths[w] > len - 8)
						continue;
					memcpy(b, good, len);
					memset(b + off, fills[v], widths[w]);
					fix_trailer(b, len);
					int rc = decode(b, len);

					tried++;
					if (rc == SQ_E_NOMEM || rc == SQ_E_INTERNAL) {
						fprintf(stderr, "%s: %u bytes of 0x%02x at %zu: %s (%s)\n",
							what, widths[w], fills[v], off,
							sq_error_name(rc), sq_last_error());
						bad++;
					}
				}
			}
		}
		fprintf(stderr, "%s: %u mutated inputs, %u allocated without bound\n", what,
			tried, bad);
		free(b);
		_exit(bad ? 1 : 0);
	}
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("%s: a decoder crashed or allocated from an unchecked length", what);
}

static int decode_state(const uint8_t *b, size_t len)
{
	struct sq_microvm_state *s = NULL;
	int rc = sq_state_decode(b, len, &s, NULL);

	sq_state_destroy(s);
	return rc;
}

static int decode_manifest(const uint8_t *b, size_t len)
{
	struct sq_manifest *m = NULL;
	int rc = sq_manifest_decode(b, len, &m);

	sq_manifest_destroy(m);
	return rc;
}

static void decoders_bound_allocations(void **state)
{
	(void)state;
	struct sq_microvm_state *s = NULL;
	uint8_t *st = NULL;
	size_t st_len = 0;

	assert_int_equal(sq_state_demo(&s), 0);
	assert_int_equal(sq_state_encode(s, &st, &st_len), 0);
	sq_state_destroy(s);
	blow_up_fields(st, st_len, decode_state, "state decoder");
	free(st);

	struct sq_run ext[2] = { { 0, 3 }, { 10, 5 } };
	uint64_t crcs[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct sq_manifest m = { .kind = SQ_SNAPSHOT_FULL, .page_size = 4096,
				 .region_size = 64 * 4096, .nextents = 2, .extents = ext,
				 .npages = 8, .crcs = crcs };
	void *mb = NULL;
	size_t mb_len = 0;

	m.id.b[0] = 1;
	assert_int_equal(sq_manifest_encode(&m, &mb, &mb_len), 0);
	blow_up_fields(mb, mb_len, decode_manifest, "manifest decoder");
	free(mb);
}

static void state_file_reads_are_bounded(void **state)
{
	(void)state;
	/* 11 MB of garbage: refused by size, not read whole or decoded. */
	char *p = path_in(dir, "huge.snap");
	size_t n = 11u << 20;
	uint8_t *b = calloc(1, n);
	struct sq_microvm_state *s = NULL;

	assert_non_null(b);
	assert_int_equal(sq_test_write_file(p, b, n), 0);
	free(b);
	int rc = sq_state_load(p, &s, NULL);

	assert_int_equal(rc, SQ_E_SIZE_LIMIT);
	assert_null(s);
	free(p);
}

/* ---------------------------------------------------------------- receiver */

/* Feed @bytes to a receiver over a socketpair; returns its result. */
static int receive(const uint8_t *bytes, size_t len, void *region, size_t region_size)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[1], bytes, len), (ssize_t)len);
	shutdown(sv[1], SHUT_WR);
	struct sq_migrate_recv_opts o = { .size = sizeof(o), .region = region, .region_size = region_size,
					  .mem_fd = -1, .timeout_ms = 2000 };
	struct sq_migrate_recv *r = NULL;

	assert_int_equal(sq_migrate_recv_create(&o, &r), 0);
	int rc = sq_migrate_recv_fds(r, &sv[0], 1);

	sq_migrate_recv_destroy(r);
	close(sv[0]);
	close(sv[1]);
	return rc;
}

static size_t hello(uint8_t *b, uint64_t region_size)
{
	struct sq_mig_hello h = { .version = SQ_MIG_VERSION, .page_size = 4096,
				  .session_id = 42, .region_size = region_size,
				  .conn_index = 0, .conn_count = 1 };

	sq_mig_hello_encode(&h, b);
	return SQ_MIG_HELLO_LEN;
}

static void receiver_stays_in_its_region(void **state)
{
	(void)state;
	const size_t guard = 4096;
	uint8_t *arena = mmap(NULL, SIZE + 2 * guard, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *region = arena + guard;
	uint8_t buf[SQ_MIG_HELLO_LEN + SQ_MIG_FRAME_HDR + 4096];
	uint8_t page[4096];

	assert_true(arena != MAP_FAILED);
	memset(arena, 0xaa, SIZE + 2 * guard);
	memset(page, 0x55, sizeof(page));
	/* A page frame one page past the end, and one straddling it, each
	 * with a valid CRC. */
	const uint64_t offs[] = { SIZE, SIZE - 2048, UINT64_MAX - 4095 };
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		size_t n = hello(buf, SIZE);
		struct sq_mig_frame f = { .type = SQ_MIG_PAGES, .round = 1, .seq = 1,
					  .offset = offs[i], .length = 4096 };

		sq_mig_frame_encode(&f, buf + n, page, sizeof(page));
		memcpy(buf + n + SQ_MIG_FRAME_HDR, page, sizeof(page));
		int rc = receive(buf, sizeof(buf), region, SIZE);

		if (rc != SQ_E_STREAM_RANGE && rc != SQ_E_STREAM_MALFORMED)
			fail_msg("page frame at offset %llu: %s, not a range error",
				 (unsigned long long)offs[i], sq_error_name(rc));
	}
	for (size_t i = 0; i < SIZE + 2 * guard; i++)
		if (arena[i] != 0xaa)
			fail_msg("the receiver wrote byte %zd of its region", (ssize_t)i - (ssize_t)guard);
	munmap(arena, SIZE + 2 * guard);
}

static void receiver_sizes_nothing_from_the_stream(void **state)
{
	(void)state;
	uint8_t buf[SQ_MIG_HELLO_LEN + SQ_MIG_FRAME_HDR];
	/* No region given: the receiver maps the sender's size, at most its
	 * limit (64 GiB by default). A sender claiming 1 PiB is refused. */
	size_t n = hello(buf, 1ull << 50);
	int rc = receive(buf, n, NULL, 0);

	assert_true(rc < 0);
	assert_int_not_equal(rc, SQ_E_NOMEM);
	/* A frame header announcing 4 GiB of payload is refused from the
	 * header alone. */
	n = hello(buf, SIZE);
	struct sq_mig_frame f = { .type = SQ_MIG_STATE, .round = 1, .seq = 1,
				  .length = UINT32_MAX };

	sq_mig_frame_encode(&f, buf + n, NULL, 0);
	uint8_t region[SIZE];

	rc = receive(buf, sizeof(buf), region, SIZE);
	assert_true(rc == SQ_E_STREAM_OVERSIZE || rc == SQ_E_STREAM_MALFORMED);
}

/* ---------------------------------------------------------------- CLI */

static int run_cli(const char *cwd, const char *args)
{
	char *cmd = NULL;

	if (asprintf(&cmd, "cd '%s' && '%s/squib-snap' %s >/dev/null 2>&1", cwd, SQ_BUILD_DIR,
		     args) < 0)
		fail();
	int st = system(cmd);

	free(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void cli_paths_are_used_as_given(void **state)
{
	(void)state;
	char *cli = path_in(SQ_BUILD_DIR, "squib-snap");

	if (access(cli, X_OK) != 0) {
		/* Only this test: the CLI is not built (SQ_BUILD_TOOLS=OFF). */
		free(cli);
		skip();
	}
	free(cli);
	char *snap = path_in(dir, "c.snap");

	assert_int_equal(save_pair(snap, 9), 0);
	/* An output in a directory that does not exist: an error, and no
	 * directory appears. */
	assert_int_not_equal(run_cli(dir, "restore c.snap -o no/such/out.mem"), 0);
	char *no = path_in(dir, "no");

	assert_false(sq_test_exists(no));
	/* A relative output lands in the cwd, under the name given. */
	assert_int_equal(run_cli(dir, "restore c.snap -o out.mem"), 0);
	char *out = path_in(dir, "out.mem");

	assert_true(sq_test_exists(out));
	assert_int_equal(mode_of(out), 0600);
	free(no);
	free(out);
	free(snap);
}

static int setup(void **state)
{
	(void)state;
	dir = sq_test_tmpdir("security");
	return dir ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	sq_test_rmrf(dir);
	free(dir);
	return 0;
}

/* ---------------------------------------------------------------- pairing */

/* A full pair whose pages are @fill except pages 3 and 9: zero, or (with
 * @extra) page 3 holds data. */
static void save_holey(const char *path, int extra)
{
	struct sq_microvm_state *s = NULL;
	uint8_t *st = NULL;
	size_t st_len = 0;
	unsigned char *region = aligned_alloc(4096, SIZE);

	memset(region, 0x5a, SIZE);
	memset(region + 3 * 4096, 0, 4096);
	memset(region + 9 * 4096, 0, 4096);
	if (extra)
		region[3 * 4096 + 17] = 1;
	assert_int_equal(sq_state_demo(&s), 0);
	assert_int_equal(sq_state_encode(s, &st, &st_len), 0);
	sq_state_destroy(s);
	struct sq_mem_source src = { .base = region, .size = SIZE };
	struct sq_snapshot_save_req req = { .size = sizeof(req), .state_path = path, .kind = SQ_SNAPSHOT_FULL,
					    .state = st, .state_len = st_len, .mem = &src };
	assert_int_equal(sq_snapshot_save(&req, NULL), 0);
	free(st);
	free(region);
}

static void foreign_memory_file_refused(void **state)
{
	(void)state;
	char *p = path_in(dir, "p.snap"), *q = path_in(dir, "q.snap");
	char *pm = path_in(dir, "p.mem"), *qm = path_in(dir, "q.mem");
	struct sq_snapshot_loaded *l = NULL;

	save_holey(p, 0);
	save_holey(q, 1); /* another snapshot: page 3, a hole in p, holds data */
	assert_int_equal(sq_snapshot_load(p, 0, &l), 0);
	sq_snapshot_loaded_destroy(l);
	assert_int_equal(rename(qm, pm), 0); /* q's memory file beside p's manifest */
	assert_int_equal(sq_snapshot_load(p, 0, &l), SQ_E_PAIR_MISMATCH);
	assert_null(l);
	assert_int_equal(sq_snapshot_load(p, SQ_LOAD_SAMPLE_CRCS, &l), SQ_E_PAIR_MISMATCH);
	assert_int_equal(sq_memfile_verify(pm, NULL, 1, NULL), SQ_E_VERIFY);
	free(p);
	free(q);
	free(pm);
	free(qm);
}

static void put64le(unsigned char *b, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
}

/* A header that implies a 2 GiB manifest, the rest a hole. */
static void sparse_manifest_refused_cheaply(void **state)
{
	(void)state;
	char *m = path_in(dir, "s.manifest");
	unsigned char h[96] = "SQMANIF1";
	uint64_t np = 268435440ull, size = 96 + 16 + 8 * np + 8; /* 2147483640 bytes */

	h[8] = 1;          /* version */
	h[16] = 0, h[17] = 0x10; /* page size 4096 */
	h[20] = 96;        /* header size */
	put64le(h + 56, 1ull << 40);
	put64le(h + 80, 1);
	put64le(h + 88, np);
	int fd = open(m, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, h, sizeof(h), 0), (ssize_t)sizeof(h));
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rusage a, b;
		struct sq_manifest *out = NULL;
		getrusage(RUSAGE_SELF, &a);
		int rc = sq_manifest_load(m, &out);
		getrusage(RUSAGE_SELF, &b);
		if (rc != SQ_E_MANIFEST || !strstr(sq_last_error(), "hole"))
			_exit(1);
		_exit(b.ru_maxrss - a.ru_maxrss > 64 * 1024 ? 2 : 0); /* KiB */
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	unlink(m);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(files_are_private, setup, teardown),
		cmocka_unit_test_setup_teardown(planted_symlinks_are_not_followed, setup, teardown),
		cmocka_unit_test(decoders_bound_allocations),
		cmocka_unit_test_setup_teardown(state_file_reads_are_bounded, setup, teardown),
		cmocka_unit_test(receiver_stays_in_its_region),
		cmocka_unit_test(receiver_sizes_nothing_from_the_stream),
		cmocka_unit_test_setup_teardown(cli_paths_are_used_as_given, setup, teardown),
		cmocka_unit_test_setup_teardown(foreign_memory_file_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(sparse_manifest_refused_cheaply, setup, teardown),
	};
	return cmocka_run_group_tests_name("hardening/security", tests, NULL, NULL);
}
