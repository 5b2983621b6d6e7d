/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The column order rule in general, checked independently of the
 * library's encoder: a reference encoder here walks a state depth-first the
 * way serde's derived Serialize does, appends every value to its slot (one
 * per leaf path), numbers each slot the first time it receives a value, and
 * emits the columns in that order with the library's primitive codecs.
 * For random states (empty and non-empty maps anywhere, empty blobs, None
 * and Some options, 0 to 40 vCPUs) its bytes must equal sq_state_encode_body,
 * and the library must decode them back to the same state.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <squib/error.h>
#include <squib/state.h>

#include "helpers.h"
#include "state/bitcode.h"
#include "state/state_internal.h"

enum kind { K_U64, K_U32, K_BOOL, K_LEN, K_STR, K_U8 };

enum {
	S_MAGIC, S_VERSION, S_MEM, S_SMT, S_TEMPLATE, S_KERNEL, S_INITRD_TAG, S_INITRD,
	S_BOOT_ARGS, S_TRACK, S_VCPUS_LEN, S_VCPU_U64, /* 101 slots */
	S_SYS_LEN = S_VCPU_U64 + SQ_VCPU_U64_COLUMNS, S_SYS_KEY, S_SYS_VAL, S_PSCI,
	S_DEV_LEN, S_DEV_KIND, S_DEV_ID, S_DEV_SLOT, S_BLOB_LEN, S_BLOB, S_GIC_LEN, S_GIC_BYTES_LEN,
	S_GIC_BYTES, S_MMDS_TAG, S_MMDS_JSON, S_TTL_TAG, S_TTL, S_COUNT
};

struct slot {
	enum kind kind;
	int order; /* -1 until the first value */
	uint64_t *v;
	const char **str;
	size_t n, cap;
};

struct ref {
	struct slot s[S_COUNT];
	int next;
};

static void push(struct ref *r, int id, enum kind k, uint64_t v, const char *str)
{
	struct slot *s = &r->s[id];

	s->kind = k;
	if (s->order < 0)
		s->order = r->next++;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		s->str = realloc(s->str, s->cap * sizeof(*s->str));
	}
	s->v[s->n] = v;
	s->str[s->n] = str;
	s->n++;
}

static void push_str(struct ref *r, int id, const struct sq_str *st)
{
	push(r, id, K_STR, st->len, st->s ? st->s : "");
}

static void walk(struct ref *r, const struct sq_microvm_state *st, uint64_t magic,
		 const char *version)
{
	const struct sq_vm_info *vi = &st->vm_info;

	push(r, S_MAGIC, K_U64, magic, NULL);
	push(r, S_VERSION, K_STR, strlen(version), version);
	push(r, S_MEM, K_U64, vi->mem_size_mib, NULL);
	push(r, S_SMT, K_BOOL, vi->smt, NULL);
	push_str(r, S_TEMPLATE, &vi->cpu_template);
	push_str(r, S_KERNEL, &vi->kernel_image_path);
	push(r, S_INITRD_TAG, K_U8, vi->has_initrd_path, NULL);
	if (vi->has_initrd_path)
		push_str(r, S_INITRD, &vi->initrd_path);
	push_str(r, S_BOOT_ARGS, &vi->boot_args);
	push(r, S_TRACK, K_BOOL, vi->track_dirty_pages, NULL);
	push(r, S_VCPUS_LEN, K_LEN, st->n_vcpus, NULL);
	for (size_t i = 0; i < st->n_vcpus; i++) {
		const struct sq_vcpu_state *v = &st->vcpus[i];
		const uint64_t *f[SQ_VCPU_U64_COLUMNS];
		int c = 0;

		/* Field by field, as the derived Serialize visits them. */
		f[c++] = &v->mpidr;
		for (int k = 0; k < 31; k++)
			f[c++] = &v->regs.x[k];
		f[c++] = &v->regs.sp;
		f[c++] = &v->regs.pc;
		f[c++] = &v->regs.pstate;
		for (int k = 0; k < 32; k++) {
			f[c++] = &v->fp_regs.v[k][0];
			f[c++] = &v->fp_regs.v[k][1];
		}
		f[c++] = &v->fp_regs.fpsr;
		f[c++] = &v->fp_regs.fpcr;
		for (int k = 0; k < SQ_VCPU_U64_COLUMNS; k++)
			push(r, S_VCPU_U64 + k, K_U64, *f[k], NULL);
		push(r, S_SYS_LEN, K_LEN, v->n_sys_regs, NULL);
		for (size_t k = 0; k < v->n_sys_regs; k++) {
			push(r, S_SYS_KEY, K_U64, v->sys_regs[k].key, NULL);
			push(r, S_SYS_VAL, K_U64, v->sys_regs[k].value, NULL);
		}
		push(r, S_PSCI, K_U8, v->psci_state, NULL);
	}
	push(r, S_DEV_LEN, K_LEN, st->n_devices, NULL);
	for (size_t i = 0; i < st->n_devices; i++) {
		const struct sq_device_state *d = &st->devices[i];

		push_str(r, S_DEV_KIND, &d->kind);
		push_str(r, S_DEV_ID, &d->id);
		push(r, S_DEV_SLOT, K_U32, d->mmio_slot, NULL);
		push(r, S_BLOB_LEN, K_LEN, d->blob_len, NULL);
		for (size_t k = 0; k < d->blob_len; k++)
			push(r, S_BLOB, K_U8, d->blob[k], NULL);
	}
	push(r, S_GIC_LEN, K_U64, st->gic_state.len, NULL);
	push(r, S_GIC_BYTES_LEN, K_LEN, st->gic_state.bytes_len, NULL);
	for (size_t k = 0; k < st->gic_state.bytes_len; k++)
		push(r, S_GIC_BYTES, K_U8, st->gic_state.bytes[k], NULL);
	push(r, S_MMDS_TAG, K_U8, st->has_mmds, NULL);
	if (st->has_mmds) {
		push_str(r, S_MMDS_JSON, &st->mmds_state.data_json);
		push(r, S_TTL_TAG, K_U8, st->mmds_state.has_token_ttl, NULL);
		if (st->mmds_state.has_token_ttl)
			push(r, S_TTL, K_U32, st->mmds_state.token_ttl_seconds, NULL);
	}
}

static void emit(struct bc_wbuf *w, const struct slot *s)
{
	switch (s->kind) {
	case K_U64:
		bc_put_ints(w, s->v, 8, s->n, 8);
		break;
	case K_U32: {
		uint32_t *x = calloc(s->n, 4);

		for (size_t i = 0; i < s->n; i++)
			x[i] = (uint32_t)s->v[i];
		bc_put_ints(w, x, 4, s->n, 4);
		free(x);
		break;
	}
	case K_BOOL: {
		bool *x = calloc(s->n, sizeof(bool));

		for (size_t i = 0; i < s->n; i++)
			x[i] = s->v[i] != 0;
		bc_put_bools(w, x, sizeof(bool), s->n);
		free(x);
		break;
	}
	case K_LEN:
		bc_put_lengths(w, s->v, s->n);
		break;
	case K_STR: /* lengths, then all bytes: one column */
		bc_put_lengths(w, s->v, s->n);
		for (size_t i = 0; i < s->n; i++)
			bc_put_raw(w, s->str[i], s->v[i]);
		break;
	case K_U8: {
		uint8_t *x = calloc(s->n, 1);

		for (size_t i = 0; i < s->n; i++)
			x[i] = (uint8_t)s->v[i];
		bc_put_packed_bytes(w, x, s->n);
		free(x);
		break;
	}
	}
}

static void reference_encode(const struct sq_microvm_state *st, uint64_t magic,
			     const char *version, struct bc_wbuf *w)
{
	struct ref r;

	memset(&r, 0, sizeof(r));
	for (int i = 0; i < S_COUNT; i++)
		r.s[i].order = -1;
	walk(&r, st, magic, version);
	bc_wbuf_init(w, 0);
	for (int o = 0; o < r.next; o++)
		for (int i = 0; i < S_COUNT; i++)
			if (r.s[i].order == o)
				emit(w, &r.s[i]);
	for (int i = 0; i < S_COUNT; i++) {
		free(r.s[i].v);
		free(r.s[i].str);
	}
}

/* ------------------------------------------------------------ random states */

static uint64_t rnd_u64(uint64_t *seed)
{
	uint64_t x = sq_test_rand(seed);

	switch (x % 6) {
	case 0: return 0;
	case 1: return x >> 56;
	case 2: return x >> 48;
	case 3: return x >> 32;
	case 4: return UINT64_MAX - (x >> 60);
	default: return sq_test_rand(seed);
	}
}

static void rnd_str(struct sq_str *s, uint64_t *seed)
{
	static const char *const pool[] = { "", "x", "virtio-net", "\xe2\x98\x83", "a\0b",
					    "/var/lib/squib/vmlinux" };
	size_t k = sq_test_rand(seed) % 6;
	size_t len = k == 4 ? 3 : strlen(pool[k]);

	assert_int_equal(sq_str_set(s, pool[k], len), 0);
	if (sq_test_rand(seed) % 8 == 0) { /* a long one: length >= 255 escapes */
		char *big = malloc(300);

		memset(big, 'y', 300);
		assert_int_equal(sq_str_set(s, big, 255 + sq_test_rand(seed) % 45), 0);
		free(big);
	}
}

static struct sq_microvm_state *random_state(uint64_t *seed)
{
	struct sq_microvm_state *s;
	size_t n = sq_test_rand(seed) % 4 == 0 ? sq_test_rand(seed) % 41 : sq_test_rand(seed) % 5;
	int map_mode = (int)(sq_test_rand(seed) % 4); /* 0 all empty, 1 v0 empty, 2 v0 full, 3 random */

	assert_int_equal(sq_state_create(n, &s), 0);
	s->vm_info.mem_size_mib = rnd_u64(seed);
	s->vm_info.smt = sq_test_rand(seed) & 1;
	s->vm_info.track_dirty_pages = sq_test_rand(seed) & 1;
	s->vm_info.has_initrd_path = sq_test_rand(seed) & 1;
	rnd_str(&s->vm_info.cpu_template, seed);
	rnd_str(&s->vm_info.kernel_image_path, seed);
	if (s->vm_info.has_initrd_path)
		rnd_str(&s->vm_info.initrd_path, seed);
	rnd_str(&s->vm_info.boot_args, seed);
	for (size_t i = 0; i < n; i++) {
		struct sq_vcpu_state *v = &s->vcpus[i];
		uint64_t *row = (uint64_t *)(void *)v;
		size_t entries;

		for (int c = 0; c < SQ_VCPU_U64_COLUMNS; c++)
			row[c] = sq_test_rand(seed) % 3 ? rnd_u64(seed) : 0;
		v->psci_state = (enum sq_psci_state)(sq_test_rand(seed) % 3);
		entries = sq_test_rand(seed) % 4 ? sq_test_rand(seed) % 48 : 300;
		if (map_mode == 0 || (map_mode == 1 && i == 0) ||
		    (map_mode == 3 && (sq_test_rand(seed) & 1)))
			entries = 0;
		if (map_mode == 2 && i == 0 && entries == 0)
			entries = 1;
		for (size_t k = 0; k < entries; k++)
			assert_int_equal(sq_vcpu_sysreg_set(v, rnd_u64(seed), rnd_u64(seed)), 0);
	}
	for (size_t d = sq_test_rand(seed) % 5; d > 0; d--) {
		size_t blen = sq_test_rand(seed) % 3 == 0 ? 0 : sq_test_rand(seed) % 400;
		uint8_t *blob = malloc(blen + 1);
		unsigned range = 1 + (unsigned)(sq_test_rand(seed) % 256);

		for (size_t k = 0; k < blen; k++)
			blob[k] = (uint8_t)(sq_test_rand(seed) % range);
		assert_int_equal(sq_state_add_device(s, d & 1 ? "virtio-block" : "", d & 2 ? "x" : "",
						     (uint32_t)rnd_u64(seed), blob, blen),
				 0);
		free(blob);
	}
	if (sq_test_rand(seed) & 1) {
		uint8_t gic[200];
		size_t g = sq_test_rand(seed) % sizeof(gic);

		for (size_t k = 0; k < g; k++)
			gic[k] = (uint8_t)sq_test_rand(seed);
		assert_int_equal(sq_state_set_gic(s, gic, g), 0);
		if (sq_test_rand(seed) % 4 == 0)
			s->gic_state.len = rnd_u64(seed); /* mismatch is legal on the wire */
	}
	if (sq_test_rand(seed) & 1)
		assert_int_equal(sq_state_set_mmds(s, sq_test_rand(seed) & 1 ? "null" : "",
						   sq_test_rand(seed) & 1,
						   (uint32_t)rnd_u64(seed)),
				 0);
	return s;
}

static void reference_walk_matches_encoder(void **state)
{
	uint64_t seed = sq_test_seed("reference_walk_matches_encoder");
	int late_maps = 0;

	(void)state;
	for (int iter = 0; iter < 600; iter++) {
		struct sq_microvm_state *s = random_state(&seed), *d;
		struct sq_state_header h;
		struct bc_wbuf ref;
		uint8_t *enc;
		size_t len;

		reference_encode(s, SQ_SNAPSHOT_MAGIC_AARCH64, "5.0.0", &ref);
		assert_int_equal(ref.err, 0);
		assert_int_equal(sq_state_encode_body(s, SQ_SNAPSHOT_MAGIC_AARCH64, "5.0.0", &enc,
						      &len),
				 0);
		if (len != ref.len || memcmp(enc, ref.p, len) != 0)
			fail_msg("iteration %d: encoder and reference walk differ (%zu vs %zu bytes)",
				 iter, len, ref.len);
		assert_int_equal(sq_state_decode_body(enc, len, &d, &h), 0);
		assert_true(sq_state_equal(s, d));
		if (s->n_vcpus > 1 && s->vcpus[0].n_sys_regs == 0)
			for (size_t i = 1; i < s->n_vcpus; i++)
				late_maps += s->vcpus[i].n_sys_regs > 0;
		sq_state_header_release(&h);
		sq_state_destroy(d);
		sq_state_destroy(s);
		free(enc);
		bc_wbuf_release(&ref);
	}
	/* The data-dependent position was exercised, not just the fixed one. */
	assert_true(late_maps > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reference_walk_matches_encoder),
	};

	return cmocka_run_group_tests_name("state/column_order", tests, NULL, NULL);
}
