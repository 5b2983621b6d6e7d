/* SPDX-License-Identifier: Apache-2.0 */
/*
 * state/model.c - the microVM state model: create, copy, compare, free,
 * setters, device order and verify_compatible.
 *
 * Invariants of a well-formed struct sq_microvm_state (what the decoder
 * produces and the encoder requires):
 *  - vcpus has n_vcpus elements (NULL iff 0), devices n_devices;
 *  - every struct sq_str is NULL/0 or a malloc'ed, NUL-terminated copy of
 *    valid UTF-8 of len bytes;
 *  - each vCPU's sys_regs keys are strictly ascending (BTreeMap order);
 *  - psci_state is 0, 1 or 2; blobs are NULL iff their length is 0.
 * Nothing here is shared between states: copies are deep.
 */
#include <stdlib.h>
#include <string.h>

#include <squib/state.h>

#include "core/err.h"
#include "state/bitcode.h"
#include "state/state_internal.h"

int sq_str_set(struct sq_str *dst, const char *src, size_t len)
{
	char *p = malloc(len + 1);

	if (!p)
		return sq_err(SQ_E_NOMEM, "out of memory");
	if (len)
		memcpy(p, src, len);
	p[len] = 0;
	free(dst->s);
	dst->s = p;
	dst->len = len;
	return 0;
}

void sq_str_clear(struct sq_str *s)
{
	free(s->s);
	s->s = NULL;
	s->len = 0;
}

static int str_copy(struct sq_str *dst, const struct sq_str *src)
{
	dst->s = NULL;
	dst->len = 0;
	if (!src->s || !src->len)
		return src->s ? sq_str_set(dst, "", 0) : 0;
	return sq_str_set(dst, src->s, src->len);
}

static bool str_eq(const struct sq_str *a, const struct sq_str *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->s, b->s, a->len) == 0);
}

static bool bytes_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static void *dup_bytes(const void *src, size_t len)
{
	void *p;

	if (!len)
		return NULL;
	p = malloc(len);
	if (p)
		memcpy(p, src, len);
	return p;
}

void sq_vcpu_release(struct sq_vcpu_state *v)
{
	free(v->sys_regs);
	v->sys_regs = NULL;
	v->n_sys_regs = 0;
}

void sq_device_release(struct sq_device_state *d)
{
	sq_str_clear(&d->kind);
	sq_str_clear(&d->id);
	free(d->blob);
	d->blob = NULL;
	d->blob_len = 0;
}

void sq_state_destroy(struct sq_microvm_state *s)
{
	if (!s)
		return;
	sq_str_clear(&s->vm_info.cpu_template);
	sq_str_clear(&s->vm_info.kernel_image_path);
	sq_str_clear(&s->vm_info.initrd_path);
	sq_str_clear(&s->vm_info.boot_args);
	for (size_t i = 0; i < s->n_vcpus; i++)
		sq_vcpu_release(&s->vcpus[i]);
	free(s->vcpus);
	for (size_t i = 0; i < s->n_devices; i++)
		sq_device_release(&s->devices[i]);
	free(s->devices);
	free(s->gic_state.bytes);
	sq_str_clear(&s->mmds_state.data_json);
	free(s);
}

int sq_state_create(size_t n_vcpus, struct sq_microvm_state **out)
{
	struct sq_microvm_state *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return sq_err(SQ_E_NOMEM, "out of memory");
	if (n_vcpus) {
		s->vcpus = calloc(n_vcpus, sizeof(*s->vcpus));
		if (!s->vcpus) {
			free(s);
			return sq_err(SQ_E_NOMEM, "out of memory");
		}
		s->n_vcpus = n_vcpus;
		for (size_t i = 0; i < n_vcpus; i++)
			s->vcpus[i].psci_state = SQ_PSCI_OFF;
	}
	*out = s;
	return 0;
}

int sq_state_copy(const struct sq_microvm_state *src, struct sq_microvm_state **out)
{
	struct sq_microvm_state *s;
	int rc = sq_state_create(src->n_vcpus, &s);

	*out = NULL;
	if (rc)
		return rc;
	s->vm_info.mem_size_mib = src->vm_info.mem_size_mib;
	s->vm_info.smt = src->vm_info.smt;
	s->vm_info.has_initrd_path = src->vm_info.has_initrd_path;
	s->vm_info.track_dirty_pages = src->vm_info.track_dirty_pages;
	if (str_copy(&s->vm_info.cpu_template, &src->vm_info.cpu_template) ||
	    str_copy(&s->vm_info.kernel_image_path, &src->vm_info.kernel_image_path) ||
	    str_copy(&s->vm_info.initrd_path, &src->vm_info.initrd_path) ||
	    str_copy(&s->vm_info.boot_args, &src->vm_info.boot_args))
		goto nomem;
	for (size_t i = 0; i < src->n_vcpus; i++) {
		struct sq_vcpu_state *d = &s->vcpus[i];

		*d = src->vcpus[i];
		d->sys_regs = NULL;
		if (d->n_sys_regs) {
			d->sys_regs = dup_bytes(src->vcpus[i].sys_regs,
						d->n_sys_regs * sizeof(*d->sys_regs));
			if (!d->sys_regs) {
				d->n_sys_regs = 0;
				goto nomem;
			}
		}
	}
	if (src->n_devices) {
		s->devices = calloc(src->n_devices, sizeof(*s->devices));
		if (!s->devices)
			goto nomem;
		s->n_devices = src->n_devices;
		for (size_t i = 0; i < src->n_devices; i++) {
			const struct sq_device_state *f = &src->devices[i];
			struct sq_device_state *d = &s->devices[i];

			d->mmio_slot = f->mmio_slot;
			if (str_copy(&d->kind, &f->kind) || str_copy(&d->id, &f->id))
				goto nomem;
			if (f->blob_len) {
				d->blob = dup_bytes(f->blob, f->blob_len);
				if (!d->blob)
					goto nomem;
				d->blob_len = f->blob_len;
			}
		}
	}
	s->gic_state.len = src->gic_state.len;
	if (src->gic_state.bytes_len) {
		s->gic_state.bytes = dup_bytes(src->gic_state.bytes, src->gic_state.bytes_len);
		if (!s->gic_state.bytes)
			goto nomem;
		s->gic_state.bytes_len = src->gic_state.bytes_len;
	}
	s->has_mmds = src->has_mmds;
	s->mmds_state.has_token_ttl = src->mmds_state.has_token_ttl;
	s->mmds_state.token_ttl_seconds = src->mmds_state.token_ttl_seconds;
	if (str_copy(&s->mmds_state.data_json, &src->mmds_state.data_json))
		goto nomem;
	*out = s;
	return 0;
nomem:
	sq_state_destroy(s);
	return sq_err(SQ_E_NOMEM, "out of memory");
}

static bool vcpu_eq(const struct sq_vcpu_state *a, const struct sq_vcpu_state *b)
{
	if (a->mpidr != b->mpidr || a->psci_state != b->psci_state ||
	    memcmp(&a->regs, &b->regs, sizeof(a->regs)) != 0 ||
	    memcmp(&a->fp_regs, &b->fp_regs, sizeof(a->fp_regs)) != 0 ||
	    a->n_sys_regs != b->n_sys_regs)
		return false;
	for (size_t i = 0; i < a->n_sys_regs; i++)
		if (a->sys_regs[i].key != b->sys_regs[i].key ||
		    a->sys_regs[i].value != b->sys_regs[i].value)
			return false;
	return true;
}

bool sq_state_equal(const struct sq_microvm_state *a, const struct sq_microvm_state *b)
{
	const struct sq_vm_info *x = &a->vm_info, *y = &b->vm_info;

	if (x->mem_size_mib != y->mem_size_mib || x->smt != y->smt ||
	    x->track_dirty_pages != y->track_dirty_pages ||
	    x->has_initrd_path != y->has_initrd_path ||
	    !str_eq(&x->cpu_template, &y->cpu_template) ||
	    !str_eq(&x->kernel_image_path, &y->kernel_image_path) ||
	    (x->has_initrd_path && !str_eq(&x->initrd_path, &y->initrd_path)) ||
	    !str_eq(&x->boot_args, &y->boot_args))
		return false;
	if (a->n_vcpus != b->n_vcpus || a->n_devices != b->n_devices)
		return false;
	for (size_t i = 0; i < a->n_vcpus; i++)
		if (!vcpu_eq(&a->vcpus[i], &b->vcpus[i]))
			return false;
	for (size_t i = 0; i < a->n_devices; i++) {
		const struct sq_device_state *d = &a->devices[i], *e = &b->devices[i];

		if (d->mmio_slot != e->mmio_slot || !str_eq(&d->kind, &e->kind) ||
		    !str_eq(&d->id, &e->id) || !bytes_eq(d->blob, d->blob_len, e->blob, e->blob_len))
			return false;
	}
	if (a->gic_state.len != b->gic_state.len ||
	    !bytes_eq(a->gic_state.bytes, a->gic_state.bytes_len, b->gic_state.bytes,
		      b->gic_state.bytes_len))
		return false;
	if (a->has_mmds != b->has_mmds)
		return false;
	if (a->has_mmds) {
		const struct sq_mmds_state *m = &a->mmds_state, *n = &b->mmds_state;

		if (!str_eq(&m->data_json, &n->data_json) || m->has_token_ttl != n->has_token_ttl ||
		    (m->has_token_ttl && m->token_ttl_seconds != n->token_ttl_seconds))
			return false;
	}
	return true;
}

/* ---------------------------------------------------------------- setters */

int sq_vcpu_sysreg_set(struct sq_vcpu_state *v, uint64_t key, uint64_t value)
{
	size_t lo = 0, hi = v->n_sys_regs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v->sys_regs[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < v->n_sys_regs && v->sys_regs[lo].key == key) {
		v->sys_regs[lo].value = value;
		return 0;
	}
	struct sq_sysreg *p = realloc(v->sys_regs, (v->n_sys_regs + 1) * sizeof(*p));
	if (!p)
		return sq_err(SQ_E_NOMEM, "out of memory");
	memmove(&p[lo + 1], &p[lo], (v->n_sys_regs - lo) * sizeof(*p));
	p[lo].key = key;
	p[lo].value = value;
	v->sys_regs = p;
	v->n_sys_regs++;
	return 0;
}

int sq_vcpu_sysreg_get(const struct sq_vcpu_state *v, uint64_t key, uint64_t *value)
{
	size_t lo = 0, hi = v->n_sys_regs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v->sys_regs[mid].key == key) {
			*value = v->sys_regs[mid].value;
			return 0;
		}
		if (v->sys_regs[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return sq_err(SQ_E_NOT_FOUND, "no sys_regs entry for key %llu", (unsigned long long)key);
}

int sq_state_add_device(struct sq_microvm_state *s, const char *kind, const char *id,
			uint32_t mmio_slot, const void *blob, size_t blob_len)
{
	struct sq_device_state d = { .mmio_slot = mmio_slot };
	struct sq_device_state *p;

	if (sq_str_set(&d.kind, kind, strlen(kind)) || sq_str_set(&d.id, id, strlen(id)))
		goto nomem;
	if (blob_len) {
		d.blob = dup_bytes(blob, blob_len);
		if (!d.blob)
			goto nomem;
		d.blob_len = blob_len;
	}
	p = realloc(s->devices, (s->n_devices + 1) * sizeof(*p));
	if (!p)
		goto nomem;
	p[s->n_devices++] = d;
	s->devices = p;
	return 0;
nomem:
	sq_device_release(&d);
	return sq_err(SQ_E_NOMEM, "out of memory");
}

static int str_cmp(const struct sq_str *a, const struct sq_str *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int c = n ? memcmp(a->s, b->s, n) : 0;

	if (c)
		return c;
	return a->len < b->len ? -1 : a->len > b->len;
}

void sq_state_sort_devices(struct sq_microvm_state *s)
{
	/* Insertion sort: stable, like Rust's sort_by, and device lists are short. */
	for (size_t i = 1; i < s->n_devices; i++) {
		struct sq_device_state d = s->devices[i];
		size_t j = i;

		while (j > 0) {
			const struct sq_device_state *p = &s->devices[j - 1];

			if (p->mmio_slot < d.mmio_slot ||
			    (p->mmio_slot == d.mmio_slot && str_cmp(&p->id, &d.id) <= 0))
				break;
			s->devices[j] = *p;
			j--;
		}
		s->devices[j] = d;
	}
}

int sq_state_set_gic(struct sq_microvm_state *s, const void *bytes, size_t len)
{
	uint8_t *p = dup_bytes(bytes, len);

	if (len && !p)
		return sq_err(SQ_E_NOMEM, "out of memory");
	free(s->gic_state.bytes);
	s->gic_state.bytes = p;
	s->gic_state.bytes_len = len;
	s->gic_state.len = len;
	return 0;
}

int sq_state_set_mmds(struct sq_microvm_state *s, const char *json, bool has_ttl,
		      uint32_t ttl_seconds)
{
	if (!json) {
		sq_str_clear(&s->mmds_state.data_json);
		s->has_mmds = false;
		s->mmds_state.has_token_ttl = false;
		s->mmds_state.token_ttl_seconds = 0;
		return 0;
	}
	int rc = sq_str_set(&s->mmds_state.data_json, json, strlen(json));
	if (rc)
		return rc;
	s->has_mmds = true;
	s->mmds_state.has_token_ttl = has_ttl;
	s->mmds_state.token_ttl_seconds = has_ttl ? ttl_seconds : 0;
	return 0;
}

/* ------------------------------------------------------------- validation */

int sq_state_verify_compatible(const struct sq_microvm_state *s)
{
	static const char msg[] =
		"snapshot is from a different VMM (sysreg or GIC blob shape mismatch)";

	if (s->n_vcpus == 0 || s->n_vcpus > SQ_STATE_MAX_VCPUS)
		return sq_err(SQ_E_INCOMPATIBLE, msg);
	if (s->vm_info.smt)
		return sq_err(SQ_E_INCOMPATIBLE, msg);
	if (s->gic_state.bytes_len == 0)
		return sq_err(SQ_E_INCOMPATIBLE, msg);
	if (s->gic_state.len != (uint64_t)s->gic_state.bytes_len)
		return sq_err(SQ_E_INCOMPATIBLE, msg);
	return 0;
}

static int check_str(const struct sq_str *st, const char *what)
{
	if (st->len && !st->s)
		return sq_err(SQ_E_INVAL, "%s: %zu bytes but no text", what, st->len);
	if (!bc_utf8_valid((const uint8_t *)st->s, st->len))
		return sq_err(SQ_E_INVAL, "%s is not valid UTF-8", what);
	return 0;
}

int sq_state_check_model(const struct sq_microvm_state *s)
{
	int rc;

	if ((rc = check_str(&s->vm_info.cpu_template, "vm_info.cpu_template")) ||
	    (rc = check_str(&s->vm_info.kernel_image_path, "vm_info.kernel_image_path")) ||
	    (s->vm_info.has_initrd_path &&
	     (rc = check_str(&s->vm_info.initrd_path, "vm_info.initrd_path"))) ||
	    (rc = check_str(&s->vm_info.boot_args, "vm_info.boot_args")) ||
	    (s->has_mmds && (rc = check_str(&s->mmds_state.data_json, "mmds_state.data_json"))))
		return rc;
	if (s->n_vcpus && !s->vcpus)
		return sq_err(SQ_E_INVAL, "n_vcpus is %zu but vcpus is NULL", s->n_vcpus);
	if (s->n_devices && !s->devices)
		return sq_err(SQ_E_INVAL, "n_devices is %zu but devices is NULL", s->n_devices);
	if (s->gic_state.bytes_len && !s->gic_state.bytes)
		return sq_err(SQ_E_INVAL, "gic_state.bytes is NULL");
	for (size_t i = 0; i < s->n_vcpus; i++) {
		const struct sq_vcpu_state *v = &s->vcpus[i];

		if ((unsigned)v->psci_state > SQ_PSCI_ON_PENDING)
			return sq_err(SQ_E_INVAL, "vcpu %zu: psci_state %d is not a variant", i,
				      (int)v->psci_state);
		if (v->n_sys_regs && !v->sys_regs)
			return sq_err(SQ_E_INVAL, "vcpu %zu: sys_regs is NULL", i);
		for (size_t k = 1; k < v->n_sys_regs; k++)
			if (v->sys_regs[k].key <= v->sys_regs[k - 1].key)
				return sq_err(SQ_E_INVAL,
					      "vcpu %zu: sys_regs keys are not strictly ascending", i);
	}
	for (size_t i = 0; i < s->n_devices; i++) {
		const struct sq_device_state *d = &s->devices[i];

		if ((rc = check_str(&d->kind, "device.kind")) || (rc = check_str(&d->id, "device.id")))
			return rc;
		if (d->blob_len && !d->blob)
			return sq_err(SQ_E_INVAL, "device %zu: blob is NULL", i);
	}
	return 0;
}

struct sysreg_ix {
	struct sq_sysreg r;
	size_t ix; /* position in the input: later duplicates win */
};

static int sysreg_ix_cmp(const void *a, const void *b)
{
	const struct sysreg_ix *x = a, *y = b;

	if (x->r.key != y->r.key)
		return x->r.key < y->r.key ? -1 : 1;
	return (x->ix > y->ix) - (x->ix < y->ix);
}

size_t sq_sysregs_normalize(struct sq_sysreg *p, size_t n)
{
	size_t i, o;

	for (i = 1; i < n; i++)
		if (p[i].key <= p[i - 1].key)
			break;
	if (i >= n)
		return n; /* already a map: the common case */
	struct sysreg_ix *px = malloc(n * sizeof(*px));
	if (px) {
		/* (key, position) is a total order, so qsort's instability is harmless. */
		for (i = 0; i < n; i++) {
			px[i].r = p[i];
			px[i].ix = i;
		}
		qsort(px, n, sizeof(*px), sysreg_ix_cmp);
		for (i = 0; i < n; i++)
			p[i] = px[i].r;
		free(px);
	} else {
		/* No memory for the index: stable insertion sort in place. */
		for (i = 1; i < n; i++) {
			struct sq_sysreg x = p[i];
			size_t j = i;

			while (j > 0 && p[j - 1].key > x.key) {
				p[j] = p[j - 1];
				j--;
			}
			p[j] = x;
		}
	}
	/* Keep the last of each run of equal keys (BTreeMap insert replaces). */
	for (i = 0, o = 0; i < n; i++) {
		if (i + 1 < n && p[i + 1].key == p[i].key)
			continue;
		p[o++] = p[i];
	}
	return o;
}

/* The name published with libsquib.so.2 before the naming rule (docs/ARCHITECTURE.md, "ABI"). */
void sq_str_free(struct sq_str *s)
{
	sq_str_clear(s);
}

/* The name published with libsquib.so.2 before the naming rule (docs/ARCHITECTURE.md, "ABI"). */
void sq_state_free(struct sq_microvm_state *s)
{
	sq_state_destroy(s);
}
