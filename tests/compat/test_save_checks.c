/* SPDX-License-Identifier: Apache-2.0 */
/*
 * save() validates as the original's does, before any file exists: each
 * rejected request returns the original's variant and text, and leaves the
 * directory as it was (no pair, no temp; a previous pair byte-identical).
 */
#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include <sys/mman.h>

#include <squib/error.h>
#include <squib/snapshot.h>
#include <squib/state.h>

#include "helpers.h"

#define SIZE (64u * SQ_PAGE_SIZE)

struct fx {
	char *dir;
	char snap[1024];
	uint8_t *region;
	struct sq_mem_source src;
	struct sq_snapshot_id parent;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->dir = sq_test_tmpdir("save-checks");
	snprintf(f->snap, sizeof(f->snap), "%s/vm.snap", f->dir);
	f->region = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(f->region != MAP_FAILED);
	memset(f->region, 0x5a, SIZE);
	f->src = (struct sq_mem_source){ .base = f->region, .size = SIZE };
	memset(&f->parent, 0x11, sizeof(f->parent));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	munmap(f->region, SIZE);
	sq_test_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* Encode @vm (no verify_compatible: the save must do it). */
static uint8_t *encode(const struct sq_microvm_state *vm, size_t *len)
{
	uint8_t *buf = NULL;

	assert_int_equal(sq_state_encode(vm, &buf, len), 0);
	return buf;
}

static size_t entries(const char *dir)
{
	DIR *d = opendir(dir);
	size_t n = 0;
	struct dirent *e;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

/* Save @vm as @kind with @runs; expect @code and exactly the text @text. */
static void expect(struct fx *f, const struct sq_microvm_state *vm, enum sq_snapshot_kind kind,
		   const struct sq_run *runs, size_t nruns, int parent, int code, const char *text)
{
	size_t len, before = entries(f->dir);
	uint8_t *st = encode(vm, &len);
	struct sq_snapshot_save_req q = { .size = sizeof(q), .state_path = f->snap, .kind = kind, .state = st,
					  .state_len = len, .mem = &f->src, .runs = runs,
					  .nruns = nruns, .parent = parent ? &f->parent : NULL };

	assert_int_equal(sq_snapshot_save(&q, NULL), code);
	if (text)
		assert_string_equal(sq_last_error(), text);
	assert_int_equal(entries(f->dir), before);
	free(st);
}

static const struct sq_run one_run = { 3, 1 };

static void diff_without_dirty_source(void **state)
{
	struct fx *f = *state;
	struct sq_microvm_state *vm;

	assert_int_equal(sq_state_demo(&vm), 0);
	expect(f, vm, SQ_SNAPSHOT_DIFF, NULL, 0, 1, SQ_E_INVALID_PATH,
	       "invalid snapshot path: Diff snapshot requires track_dirty_pages=true and a dirty "
	       "bitmap");
	sq_state_destroy(vm);
}

static void diff_without_track_dirty_pages(void **state)
{
	struct fx *f = *state;
	struct sq_microvm_state *vm;

	assert_int_equal(sq_state_demo(&vm), 0);
	vm->vm_info.track_dirty_pages = false;
	expect(f, vm, SQ_SNAPSHOT_DIFF, &one_run, 1, 1, SQ_E_INVALID_PATH,
	       "invalid snapshot path: Diff snapshot requested but vm_info.track_dirty_pages is "
	       "false");
	/* a full snapshot of the same state is fine: the flag only gates diffs */
	size_t len;
	uint8_t *st = encode(vm, &len);
	struct sq_snapshot_save_req q = { .size = sizeof(q), .state_path = f->snap, .kind = SQ_SNAPSHOT_FULL,
					  .state = st, .state_len = len, .mem = &f->src };
	assert_int_equal(sq_snapshot_save(&q, NULL), 0);
	free(st);
	sq_state_destroy(vm);
}

static void diff_past_the_region(void **state)
{
	struct fx *f = *state;
	struct sq_microvm_state *vm;
	struct sq_run past = { 60, 8 };

	assert_int_equal(sq_state_demo(&vm), 0);
	expect(f, vm, SQ_SNAPSHOT_DIFF, &past, 1, 1, SQ_E_INVALID_PATH,
	       "invalid snapshot path: diff bitmap covers 278528 bytes, memory file expects "
	       "262144");
	sq_state_destroy(vm);
}

static void diff_without_parent(void **state)
{
	struct fx *f = *state;
	struct sq_microvm_state *vm;

	assert_int_equal(sq_state_demo(&vm), 0);
	expect(f, vm, SQ_SNAPSHOT_DIFF, &one_run, 1, 0, SQ_E_INVALID_PATH,
	       "invalid snapshot path: Diff snapshot requires the parent's id");
	sq_state_destroy(vm);
}

static const char incompatible[] =
	"snapshot is from a different VMM (sysreg or GIC blob shape mismatch)";

/* verify_compatible runs before anything is written: each of its four rules. */
static void never_saves_what_cannot_load(void **state)
{
	struct fx *f = *state;
	struct sq_microvm_state *vm;

	assert_int_equal(sq_state_create(0, &vm), 0); /* 0 vCPUs */
	assert_int_equal(sq_state_set_gic(vm, "gic", 3), 0);
	expect(f, vm, SQ_SNAPSHOT_FULL, NULL, 0, 0, SQ_E_INCOMPATIBLE, incompatible);
	sq_state_destroy(vm);

	assert_int_equal(sq_x_state_demo_vcpus(33, &vm), 0); /* > 32 */
	expect(f, vm, SQ_SNAPSHOT_FULL, NULL, 0, 0, SQ_E_INCOMPATIBLE, incompatible);
	sq_state_destroy(vm);

	assert_int_equal(sq_state_demo(&vm), 0);
	vm->vm_info.smt = true;
	expect(f, vm, SQ_SNAPSHOT_FULL, NULL, 0, 0, SQ_E_INCOMPATIBLE, incompatible);
	vm->vm_info.smt = false;
	vm->gic_state.len++; /* GIC length mismatch */
	expect(f, vm, SQ_SNAPSHOT_DIFF, &one_run, 1, 1, SQ_E_INCOMPATIBLE, incompatible);
	free(vm->gic_state.bytes); /* empty GIC blob */
	vm->gic_state.bytes = NULL;
	vm->gic_state.bytes_len = 0;
	vm->gic_state.len = 0;
	expect(f, vm, SQ_SNAPSHOT_FULL, NULL, 0, 0, SQ_E_INCOMPATIBLE, incompatible);
	sq_state_destroy(vm);
}

/* A rejected save leaves the previous pair byte for byte (original: smt). */
static void prior_pair_untouched(void **state)
{
	struct fx *f = *state;
	struct sq_microvm_state *vm;
	unsigned char *a = NULL, *b = NULL;
	size_t alen, blen, len;
	char mem[1100];

	assert_int_equal(sq_state_demo(&vm), 0);
	uint8_t *st = encode(vm, &len);
	struct sq_snapshot_save_req q = { .size = sizeof(q), .state_path = f->snap, .kind = SQ_SNAPSHOT_FULL,
					  .state = st, .state_len = len, .mem = &f->src };
	assert_int_equal(sq_snapshot_save(&q, NULL), 0);
	free(st);
	snprintf(mem, sizeof(mem), "%s/vm.mem", f->dir);
	assert_int_equal(sq_test_read_file(mem, &a, &alen), 0);
	memset(f->region, 0x77, SIZE);
	vm->vm_info.smt = true;
	expect(f, vm, SQ_SNAPSHOT_FULL, NULL, 0, 0, SQ_E_INCOMPATIBLE, incompatible);
	assert_int_equal(sq_test_read_file(mem, &b, &blen), 0);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	struct sq_snapshot_loaded *l;
	assert_int_equal(sq_snapshot_load(f->snap, 0, &l), 0);
	assert_false(l->vm->vm_info.smt);
	sq_snapshot_loaded_destroy(l);
	free(a);
	free(b);
	sq_state_destroy(vm);
}

/* The state bytes are decoded before the disk is touched: not a state file. */
static void state_bytes_checked_first(void **state)
{
	struct fx *f = *state;
	struct sq_microvm_state *vm;
	size_t len;

	assert_int_equal(sq_state_demo(&vm), 0);
	uint8_t *st = encode(vm, &len);
	st[len - 1] ^= 1;
	struct sq_snapshot_save_req q = { .size = sizeof(q), .state_path = f->snap, .kind = SQ_SNAPSHOT_FULL,
					  .state = st, .state_len = len, .mem = &f->src };
	assert_int_equal(sq_snapshot_save(&q, NULL), SQ_E_CRC_MISMATCH);
	assert_string_equal(sq_last_error(), "snapshot CRC64 mismatch");
	q.state_len = 5;
	assert_int_equal(sq_snapshot_save(&q, NULL), SQ_E_TOO_SHORT);
	assert_string_equal(sq_last_error(), "snapshot file is too short to contain a CRC trailer");
	uint8_t *big = calloc(1, SQ_STATE_SIZE_LIMIT + 1);
	q.state = big;
	q.state_len = SQ_STATE_SIZE_LIMIT + 1;
	assert_int_equal(sq_snapshot_save(&q, NULL), SQ_E_SIZE_LIMIT);
	assert_string_equal(sq_last_error(), "snapshot exceeds 10000000 byte deserialization limit");
	free(big);
	assert_int_equal(entries(f->dir), 0);
	free(st);
	sq_state_destroy(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(diff_without_dirty_source, setup, teardown),
		cmocka_unit_test_setup_teardown(diff_without_track_dirty_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(diff_past_the_region, setup, teardown),
		cmocka_unit_test_setup_teardown(diff_without_parent, setup, teardown),
		cmocka_unit_test_setup_teardown(never_saves_what_cannot_load, setup, teardown),
		cmocka_unit_test_setup_teardown(prior_pair_untouched, setup, teardown),
		cmocka_unit_test_setup_teardown(state_bytes_checked_first, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
