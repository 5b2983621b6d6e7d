/* SPDX-License-Identifier: Apache-2.0 */
/*
 * state/demo.c - ready-made states: the 2-vCPU demo (the golden vector
 * "demo", byte for byte) and an N-vCPU variant for tools and benchmarks.
 *
 * Invariant: sq_state_demo() encodes to tests/data/vectors/demo.snap
 * exactly (tests/state/test_vectors.c checks it); change one and the
 * other must change with it.
 */
#include <string.h>

#include <squib/state.h>

#include "core/err.h"

static const char mmds_json[] =
	"{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-12345678\",\"instance-id\":"
	"\"i-1234567890abcdef0\",\"local-ipv4\":\"169.254.169.254\"}}}";

static const uint8_t blk_blob[] = { 0x01, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00,
				    0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x07, 0x00 };
static const uint8_t net_blob[] = { 0x02, 0x06, 0xaa, 0xfc, 0x00, 0x00,
				    0x01, 0x01, 0x00, 0x01, 0x00, 0x00 };

static const struct sq_sysreg bsp_sysregs[] = {
	{ 1, 0x30d0199d },  /* SCTLR_EL1 */
	{ 2, 0x41234000 },  /* TTBR0_EL1 */
	{ 3, 0x1000041235000 },
	{ 4, 0xffbb440400 },
	{ 6, 0x34b5593519 },
	{ 7, 0xffff80001234fe10 },
	{ 8, 0xffff800010081000 },
	{ 9, 0x3c5 },
	{ 10, 0xffff800010010800 },
	{ 18, 0x80000000 }, /* MPIDR_EL1 */
	{ 19, 0x1 },
	{ 20, 0x123456789a },
	{ 40, 0xffff00003f7a0000 },
	{ 44, 0x300000 },   /* CPACR_EL1 */
	{ 47, 0x0 },
};

static const struct sq_sysreg ap_sysregs[] = {
	{ 1, 0x30d00800 }, { 18, 0x80000100 }, { 19, 0x0 }, { 23, 0xd6 },
	{ 33, 0x56000000 }, { 41, 0x800 }, { 44, 0x0 },
};

static int set_sysregs(struct sq_vcpu_state *v, const struct sq_sysreg *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int rc = sq_vcpu_sysreg_set(v, r[i].key, r[i].value);

		if (rc)
			return rc;
	}
	return 0;
}

static int set_common(struct sq_microvm_state *s)
{
	static const char kernel[] = "/var/lib/squib/vmlinux-6.1";
	static const char initrd[] = "/var/lib/squib/initrd.img";
	static const char args[] = "console=ttyAMA0 reboot=k panic=1 pci=off root=/dev/vda rw";
	uint8_t gic[128];
	int rc;

	s->vm_info.mem_size_mib = 1024;
	s->vm_info.track_dirty_pages = true;
	s->vm_info.has_initrd_path = true;
	for (unsigned i = 0; i < sizeof(gic); i++)
		gic[i] = (uint8_t)(i * 37 % 251);
	if ((rc = sq_str_set(&s->vm_info.cpu_template, "V1N1", 4)) ||
	    (rc = sq_str_set(&s->vm_info.kernel_image_path, kernel, sizeof(kernel) - 1)) ||
	    (rc = sq_str_set(&s->vm_info.initrd_path, initrd, sizeof(initrd) - 1)) ||
	    (rc = sq_str_set(&s->vm_info.boot_args, args, sizeof(args) - 1)) ||
	    (rc = sq_state_add_device(s, "virtio-block", "rootfs", 0, blk_blob, sizeof(blk_blob))) ||
	    (rc = sq_state_add_device(s, "virtio-net", "eth0", 1, net_blob, sizeof(net_blob))) ||
	    (rc = sq_state_set_gic(s, gic, sizeof(gic))) ||
	    (rc = sq_state_set_mmds(s, mmds_json, true, 3600)))
		return rc;
	sq_state_sort_devices(s);
	return 0;
}

int sq_state_demo(struct sq_microvm_state **out)
{
	struct sq_microvm_state *s;
	struct sq_vcpu_state *b, *a;
	int rc = sq_state_create(2, &s);

	*out = NULL;
	if (rc)
		return rc;
	b = &s->vcpus[0];
	a = &s->vcpus[1];
	/* vCPU 0: the boot processor, mid-kernel. */
	b->mpidr = 0;
	b->regs.x[0] = 0x48000000;
	b->regs.x[2] = 0xffff800010123456;
	b->regs.x[3] = 0x7;
	b->regs.x[4] = 0xffff0000c0a80001;
	b->regs.x[5] = 0x100000000;
	b->regs.x[6] = 0xff;
	b->regs.x[7] = 0x100;
	b->regs.x[8] = 0xffffffff;
	b->regs.x[9] = 0xfffff7a12000;
	b->regs.x[10] = 0x40;
	b->regs.x[19] = 0xffff800011a00000;
	b->regs.x[29] = 0xffff80001234fe30;
	b->regs.x[30] = 0xffff800010082a14;
	b->regs.sp = 0xffff80001234fe10;
	b->regs.pc = 0xffff800010081000;
	b->regs.pstate = 0x3c5;
	b->fp_regs.v[0][0] = 0x3ff0000000000000;
	b->fp_regs.v[1][0] = 0x4000000000000000;
	b->fp_regs.v[1][1] = 0x1;
	b->fp_regs.v[2][0] = 0xdeadbeef;
	b->fp_regs.v[2][1] = 0xcafebabe00000000;
	b->fp_regs.v[31][0] = UINT64_MAX;
	b->fp_regs.v[31][1] = UINT64_MAX;
	b->fp_regs.fpsr = 0x10;
	b->fp_regs.fpcr = 0x3000000;
	b->psci_state = SQ_PSCI_ON;
	/* vCPU 1: a secondary between CPU_ON and its first instruction. */
	a->mpidr = 0x100;
	a->regs.x[0] = 0x100;
	a->regs.x[1] = 0x48000000;
	a->regs.x[2] = 0xffff800010123000;
	a->regs.sp = 0xffff800012360000;
	a->regs.pc = 0x80080000;
	a->regs.pstate = 0x3c5;
	a->fp_regs.fpcr = 0x3000000;
	a->psci_state = SQ_PSCI_ON_PENDING;
	if ((rc = set_sysregs(b, bsp_sysregs, sizeof(bsp_sysregs) / sizeof(bsp_sysregs[0]))) ||
	    (rc = set_sysregs(a, ap_sysregs, sizeof(ap_sysregs) / sizeof(ap_sysregs[0]))) ||
	    (rc = set_common(s))) {
		sq_state_destroy(s);
		return rc;
	}
	*out = s;
	return 0;
}

int sq_x_state_demo_vcpus(size_t n_vcpus, struct sq_microvm_state **out)
{
	struct sq_microvm_state *s;
	int rc;

	*out = NULL;
	if (n_vcpus == 0)
		return sq_err(SQ_E_INVAL, "a demo state needs at least one vCPU");
	rc = sq_state_create(n_vcpus, &s);
	if (rc)
		return rc;
	for (size_t i = 0; i < n_vcpus; i++) {
		struct sq_vcpu_state *v = &s->vcpus[i];
		uint64_t seed = 0x9e3779b97f4a7c15ull * (i + 1);

		/* Aff0 = i % 16 (a cluster of 16), Aff1 = i / 16, as GICv3 numbering. */
		v->mpidr = ((uint64_t)(i / 16) << 8) | (i % 16);
		for (int r = 0; r < 31; r++) {
			seed ^= seed >> 29;
			seed *= 0xbf58476d1ce4e5b9ull;
			/* A mix of kernel pointers, small counters and zeros. */
			v->regs.x[r] = r % 3 == 0 ? 0xffff800010000000ull + (seed & 0xffffff0) :
				       r % 3 == 1 ? seed & 0xff : 0;
		}
		v->regs.sp = 0xffff800012340000ull - 0x4000 * i;
		v->regs.pc = 0xffff800010081000ull + 4 * (seed & 0xfff);
		v->regs.pstate = 0x3c5;
		v->fp_regs.v[0][0] = seed;
		v->fp_regs.v[0][1] = ~seed;
		v->fp_regs.fpcr = 0x3000000;
		v->psci_state = i == 0 ? SQ_PSCI_ON : SQ_PSCI_OFF;
		/* 37 registers: all but the PMU ones, OSLAR, OSDLR and CNTFRQ_EL0,
		 * which the HVF adapter cannot read (keys 22, 26-32, 46, 47). */
		for (uint64_t k = 1; k <= SQ_SYSREG_COUNT; k++) {
			if (k == 22 || (k >= 26 && k <= 32) || k == 46 || k == 47)
				continue;
			rc = sq_vcpu_sysreg_set(v, k, k == 18 ? 0x80000000ull | v->mpidr :
						      0xffff800010000000ull + k * 0x1000 + i);
			if (rc)
				goto fail;
		}
	}
	rc = set_common(s);
	if (rc)
		goto fail;
	*out = s;
	return 0;
fail:
	sq_state_destroy(s);
	return rc;
}

/* The name published with libsquib.so.2 before the naming rule (docs/ARCHITECTURE.md, "ABI"). */
int sq_state_demo_vcpus(size_t n_vcpus, struct sq_microvm_state **out)
{
	return sq_x_state_demo_vcpus(n_vcpus, out);
}
