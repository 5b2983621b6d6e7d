/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The state model, as the original's state unit tests: round trip, device
 * order, verify_compatible's four rules, MMDS and PSCI round trips; plus
 * deep copy / compare / free, the sys_regs map and key table, and the
 * decoder's BTreeMap semantics for unsorted or duplicated keys.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <squib/crc64.h>
#include <squib/error.h>
#include <squib/state.h>

#include "helpers.h"
#include "state/bitcode.h"
#include "state/state_internal.h"

static struct sq_microvm_state *roundtrip(const struct sq_microvm_state *s)
{
	struct sq_microvm_state *d;
	uint8_t *buf;
	size_t len;

	assert_int_equal(sq_state_encode(s, &buf, &len), 0);
	assert_int_equal(sq_state_decode(buf, len, &d, NULL), 0);
	free(buf);
	return d;
}

static void microvm_state_round_trips(void **state)
{
	struct sq_microvm_state *s, *d;

	(void)state;
	assert_int_equal(sq_x_state_demo_vcpus(4, &s), 0);
	d = roundtrip(s);
	assert_true(sq_state_equal(s, d));
	assert_int_equal(d->n_vcpus, 4);
	assert_int_equal(d->vcpus[0].n_sys_regs, 37);
	sq_state_destroy(d);
	sq_state_destroy(s);
}

static void devices_sort_by_slot_then_id(void **state)
{
	struct sq_microvm_state *s;

	(void)state;
	assert_int_equal(sq_state_create(1, &s), 0);
	assert_int_equal(sq_state_add_device(s, "virtio-net", "eth1", 2, NULL, 0), 0);
	assert_int_equal(sq_state_add_device(s, "virtio-block", "rootfs", 0, "x", 1), 0);
	assert_int_equal(sq_state_add_device(s, "virtio-net", "eth0", 2, NULL, 0), 0);
	assert_int_equal(sq_state_add_device(s, "virtio-block", "data", 1, NULL, 0), 0);
	assert_int_equal(sq_state_add_device(s, "virtio-vsock", "eth0", 2, NULL, 0), 0);
	/* Direct construction keeps the given order. */
	assert_string_equal(s->devices[0].id.s, "eth1");
	sq_state_sort_devices(s);
	assert_string_equal(s->devices[0].id.s, "rootfs");
	assert_string_equal(s->devices[1].id.s, "data");
	assert_string_equal(s->devices[2].id.s, "eth0");
	assert_string_equal(s->devices[2].kind.s, "virtio-net"); /* stable: net before vsock */
	assert_string_equal(s->devices[3].id.s, "eth0");
	assert_string_equal(s->devices[3].kind.s, "virtio-vsock");
	assert_string_equal(s->devices[4].id.s, "eth1");
	assert_int_equal(s->devices[0].blob_len, 1);
	sq_state_destroy(s);
}

static void verify_compatible_rules(void **state)
{
	struct sq_microvm_state *s, *z;
	const char *msg = "snapshot is from a different VMM (sysreg or GIC blob shape mismatch)";

	(void)state;
	assert_int_equal(sq_state_demo(&s), 0);
	assert_int_equal(sq_state_verify_compatible(s), 0);
	/* 0 vCPUs */
	assert_int_equal(sq_state_create(0, &z), 0);
	assert_int_equal(sq_state_set_gic(z, "g", 1), 0);
	assert_int_equal(sq_state_verify_compatible(z), SQ_E_INCOMPATIBLE);
	assert_string_equal(sq_last_error(), msg);
	sq_state_destroy(z);
	/* 33 vCPUs (32 is the cap) */
	assert_int_equal(sq_x_state_demo_vcpus(33, &z), 0);
	assert_int_equal(sq_state_verify_compatible(z), SQ_E_INCOMPATIBLE);
	sq_state_destroy(z);
	assert_int_equal(sq_x_state_demo_vcpus(32, &z), 0);
	assert_int_equal(sq_state_verify_compatible(z), 0);
	sq_state_destroy(z);
	/* smt */
	s->vm_info.smt = true;
	assert_int_equal(sq_state_verify_compatible(s), SQ_E_INCOMPATIBLE);
	s->vm_info.smt = false;
	/* gic length mismatch */
	s->gic_state.len++;
	assert_int_equal(sq_state_verify_compatible(s), SQ_E_INCOMPATIBLE);
	/* empty gic blob */
	assert_int_equal(sq_state_set_gic(s, NULL, 0), 0);
	assert_int_equal(sq_state_verify_compatible(s), SQ_E_INCOMPATIBLE);
	sq_state_destroy(s);
}

static void mmds_round_trips(void **state)
{
	struct sq_microvm_state *s, *d;
	const char *json = "{\"a\":[1,2,{\"b\":null}],\"c\":\"\\u00e9\xe2\x98\x83\"}";

	(void)state;
	assert_int_equal(sq_state_demo(&s), 0);
	assert_int_equal(sq_state_set_mmds(s, json, true, 21600), 0);
	d = roundtrip(s);
	assert_true(d->has_mmds);
	assert_string_equal(d->mmds_state.data_json.s, json);
	assert_int_equal(d->mmds_state.token_ttl_seconds, 21600);
	sq_state_destroy(d);
	/* V1 (no TTL) and disabled (None) */
	assert_int_equal(sq_state_set_mmds(s, "null", false, 0), 0);
	d = roundtrip(s);
	assert_true(d->has_mmds && !d->mmds_state.has_token_ttl);
	assert_string_equal(d->mmds_state.data_json.s, "null");
	sq_state_destroy(d);
	assert_int_equal(sq_state_set_mmds(s, NULL, false, 0), 0);
	d = roundtrip(s);
	assert_false(d->has_mmds);
	sq_state_destroy(d);
	sq_state_destroy(s);
}

static void psci_states_round_trip(void **state)
{
	struct sq_microvm_state *s, *d;

	(void)state;
	assert_int_equal(sq_x_state_demo_vcpus(3, &s), 0);
	s->vcpus[0].psci_state = SQ_PSCI_ON;
	s->vcpus[1].psci_state = SQ_PSCI_OFF;
	s->vcpus[2].psci_state = SQ_PSCI_ON_PENDING;
	d = roundtrip(s);
	assert_int_equal(d->vcpus[0].psci_state, SQ_PSCI_ON);
	assert_int_equal(d->vcpus[1].psci_state, SQ_PSCI_OFF);
	assert_int_equal(d->vcpus[2].psci_state, SQ_PSCI_ON_PENDING);
	sq_state_destroy(d);
	sq_state_destroy(s);
}

static void create_copy_equal_free(void **state)
{
	struct sq_microvm_state *s, *c;

	(void)state;
	assert_int_equal(sq_state_create(2, &s), 0);
	assert_int_equal(s->vcpus[1].psci_state, SQ_PSCI_OFF); /* VcpuState::new */
	assert_null(s->vcpus[1].sys_regs);
	sq_state_destroy(s);
	sq_state_destroy(NULL);

	assert_int_equal(sq_state_demo(&s), 0);
	assert_int_equal(sq_state_copy(s, &c), 0);
	assert_true(sq_state_equal(s, c));
	/* Deep: the copy owns its own memory. */
	assert_ptr_not_equal(c->vcpus, s->vcpus);
	assert_ptr_not_equal(c->vcpus[0].sys_regs, s->vcpus[0].sys_regs);
	assert_ptr_not_equal(c->devices[0].blob, s->devices[0].blob);
	c->devices[1].blob[0] ^= 1;
	assert_false(sq_state_equal(s, c));
	c->devices[1].blob[0] ^= 1;
	assert_true(sq_state_equal(s, c));
	c->vcpus[1].fp_regs.v[31][1]++;
	assert_false(sq_state_equal(s, c));
	c->vcpus[1].fp_regs.v[31][1]--;
	assert_int_equal(sq_str_set(&c->vm_info.boot_args, "x", 1), 0);
	assert_false(sq_state_equal(s, c));
	sq_state_destroy(c);
	/* initrd payload is ignored when None, compared when Some. */
	assert_int_equal(sq_state_copy(s, &c), 0);
	s->vm_info.has_initrd_path = c->vm_info.has_initrd_path = false;
	assert_int_equal(sq_str_set(&c->vm_info.initrd_path, "other", 5), 0);
	assert_true(sq_state_equal(s, c));
	sq_state_destroy(c);
	sq_state_destroy(s);
}

static void sysreg_map_and_key_table(void **state)
{
	struct sq_vcpu_state v = { 0 };
	uint64_t x;

	(void)state;
	assert_int_equal(sq_vcpu_sysreg_set(&v, 44, 3), 0);
	assert_int_equal(sq_vcpu_sysreg_set(&v, 1, 1), 0);
	assert_int_equal(sq_vcpu_sysreg_set(&v, 18, 2), 0);
	assert_int_equal(sq_vcpu_sysreg_set(&v, 1, 7), 0); /* replace */
	assert_int_equal(v.n_sys_regs, 3);
	assert_int_equal(v.sys_regs[0].key, 1);
	assert_int_equal(v.sys_regs[0].value, 7);
	assert_int_equal(v.sys_regs[2].key, 44);
	assert_int_equal(sq_vcpu_sysreg_get(&v, 18, &x), 0);
	assert_int_equal(x, 2);
	assert_int_equal(sq_vcpu_sysreg_get(&v, 19, &x), SQ_E_NOT_FOUND);
	sq_vcpu_release(&v);

	assert_string_equal(sq_sysreg_name(1), "SCTLR_EL1");
	assert_string_equal(sq_sysreg_name(18), "MPIDR_EL1");
	assert_string_equal(sq_sysreg_name(22), "CNTFRQ_EL0");
	assert_string_equal(sq_sysreg_name(42), "FPCR");
	assert_string_equal(sq_sysreg_name(43), "FPSR");
	assert_string_equal(sq_sysreg_name(47), "OSDLR_EL1");
	assert_null(sq_sysreg_name(0));
	assert_null(sq_sysreg_name(48));
	assert_null(sq_sysreg_name(UINT64_MAX));
	for (uint64_t k = 1; k <= SQ_SYSREG_COUNT; k++)
		assert_int_equal(sq_sysreg_key(sq_sysreg_name(k)), k);
	assert_int_equal(sq_sysreg_key("NOPE"), 0);
}

/* keys (9, 1) and (5, 5): the decoder builds maps as BTreeMap's visitor. */
static void decoder_map_semantics(void **state)
{
	struct sq_sysreg p[] = { { 9, 1 }, { 1, 2 }, { 5, 1 }, { 5, 2 }, { 1, 3 } };
	size_t n = sq_sysregs_normalize(p, 5);

	(void)state;
	assert_int_equal(n, 3);
	assert_int_equal(p[0].key, 1);
	assert_int_equal(p[0].value, 3); /* the later duplicate wins */
	assert_int_equal(p[1].key, 5);
	assert_int_equal(p[1].value, 2);
	assert_int_equal(p[2].key, 9);

	/* Through a whole file: vCPU 0 with keys 7, 3, 7 on the wire. */
	struct sq_microvm_state *s, *d;
	struct sq_state_header h;
	uint8_t *buf;
	size_t len;

	assert_int_equal(sq_state_create(1, &s), 0);
	s->vcpus[0].sys_regs = calloc(3, sizeof(struct sq_sysreg));
	s->vcpus[0].n_sys_regs = 3;
	s->vcpus[0].sys_regs[0] = (struct sq_sysreg){ 3, 30 };
	s->vcpus[0].sys_regs[1] = (struct sq_sysreg){ 7, 70 };
	s->vcpus[0].sys_regs[2] = (struct sq_sysreg){ 8, 80 };
	assert_int_equal(sq_state_encode_body(s, SQ_SNAPSHOT_MAGIC_AARCH64, NULL, &buf, &len), 0);
	/*
	 * After the map lengths [3] (raw 03) the key column is 06 (1-byte u64
	 * values) 02 (16-state packing) 73 08 (nibbles 3, 7 | 8). Rewrite the
	 * keys to 7, 3, 7 (nibbles 37 07); the values stay 30, 70, 80.
	 */
	static const uint8_t keys[] = { 0x03, 0x06, 0x02, 0x73, 0x08 };
	uint8_t *at = memmem(buf, len, keys, sizeof(keys));

	assert_non_null(at);
	at[3] = 0x37;
	at[4] = 0x07;
	assert_int_equal(sq_state_decode_body(buf, len, &d, &h), 0);
	assert_int_equal(d->vcpus[0].n_sys_regs, 2);
	assert_int_equal(d->vcpus[0].sys_regs[0].key, 3);
	assert_int_equal(d->vcpus[0].sys_regs[0].value, 70);
	assert_int_equal(d->vcpus[0].sys_regs[1].key, 7);
	assert_int_equal(d->vcpus[0].sys_regs[1].value, 80);
	sq_state_header_release(&h);
	sq_state_destroy(d);
	sq_state_destroy(s);
	free(buf);
}

/* A vCPU count the input cannot hold is refused before anything is allocated. */
static void decoder_bounds_counts(void **state)
{
	struct sq_microvm_state *d = NULL;
	struct sq_state_header h;

	(void)state;
	/* Build one by hand: header, vm_info, then N = 2^40 through the escape. */
	struct bc_wbuf w;
	bc_wbuf_init(&w, 0);
	bc_put_u64(&w, SQ_SNAPSHOT_MAGIC_AARCH64);
	bc_put_str1(&w, "5.0.0", 5);
	bc_put_u64(&w, 1);
	bool f = false;
	bc_put_bools(&w, &f, sizeof(f), 1);
	bc_put_str1(&w, "", 0);
	bc_put_str1(&w, "", 0);
	uint8_t tag = 0;
	bc_put_packed_bytes(&w, &tag, 1);
	bc_put_str1(&w, "", 0);
	bc_put_bools(&w, &f, sizeof(f), 1);
	bc_put_length(&w, 1ull << 40);
	for (int i = 0; i < 64; i++)
		bc_put_raw(&w, "\x06\x00", 2);
	assert_int_equal(sq_state_decode_body(w.p, w.len, &d, &h), SQ_E_BITCODE);
	assert_string_equal(sq_last_error(), "snapshot encoding error: EOF");
	assert_null(d);
	bc_wbuf_release(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(microvm_state_round_trips),
		cmocka_unit_test(devices_sort_by_slot_then_id),
		cmocka_unit_test(verify_compatible_rules),
		cmocka_unit_test(mmds_round_trips),
		cmocka_unit_test(psci_states_round_trip),
		cmocka_unit_test(create_copy_equal_free),
		cmocka_unit_test(sysreg_map_and_key_table),
		cmocka_unit_test(decoder_map_semantics),
		cmocka_unit_test(decoder_bounds_counts),
	};

	return cmocka_run_group_tests_name("state/model", tests, NULL, NULL);
}
