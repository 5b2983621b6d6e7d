/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/state/vjson.c - JSON reader for the vector descriptions.
 *
 * A recursive-descent parser of RFC 8259 JSON (no extensions). Depth is
 * bounded by the vectors' shape; inputs are trusted test data, but syntax
 * errors still return NULL rather than crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vjson.h"

struct p {
	const char *s;
	size_t i, n;
	int depth;
};

static void ws(struct p *p)
{
	while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\n' || p->s[p->i] == '\r' ||
			       p->s[p->i] == '\t'))
		p->i++;
}

static int parse_value(struct p *p, struct vj *out);

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

static int hex4(struct p *p, unsigned *cp)
{
	*cp = 0;
	if (p->n - p->i < 4)
		return -1;
	for (int k = 0; k < 4; k++) {
		int h = hexval(p->s[p->i++]);

		if (h < 0)
			return -1;
		*cp = *cp * 16 + (unsigned)h;
	}
	return 0;
}

static int parse_string(struct p *p, char **out, size_t *len)
{
	char *o;
	size_t k = 0;

	if (p->i >= p->n || p->s[p->i] != '"')
		return -1;
	p->i++;
	o = malloc(p->n - p->i + 1); /* decoded text is never longer */
	if (!o)
		return -1;
	while (p->i < p->n && p->s[p->i] != '"') {
		char c = p->s[p->i++];

		if (c != '\\') {
			o[k++] = c;
			continue;
		}
		if (p->i >= p->n)
			goto bad;
		c = p->s[p->i++];
		switch (c) {
		case '"': case '\\': case '/':
			o[k++] = c;
			break;
		case 'b': o[k++] = '\b'; break;
		case 'f': o[k++] = '\f'; break;
		case 'n': o[k++] = '\n'; break;
		case 'r': o[k++] = '\r'; break;
		case 't': o[k++] = '\t'; break;
		case 'u': {
			unsigned cp, lo;

			if (hex4(p, &cp))
				goto bad;
			if (cp >= 0xD800 && cp < 0xDC00 && p->n - p->i >= 6 && p->s[p->i] == '\\' &&
			    p->s[p->i + 1] == 'u') {
				p->i += 2;
				if (hex4(p, &lo) || lo < 0xDC00 || lo > 0xDFFF)
					goto bad;
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			}
			k += (size_t)put_utf8(o + k, cp);
			break;
		}
		default:
			goto bad;
		}
	}
	if (p->i >= p->n)
		goto bad;
	p->i++;
	o[k] = 0;
	*out = o;
	*len = k;
	return 0;
bad:
	free(o);
	return -1;
}

static int push(struct vj *v, struct vj *item, char *key)
{
	struct vj *items = realloc(v->items, (v->len + 1) * sizeof(*items));

	if (!items)
		return -1;
	v->items = items;
	if (v->type == VJ_OBJ) {
		char **keys = realloc(v->keys, (v->len + 1) * sizeof(*keys));

		if (!keys)
			return -1;
		v->keys = keys;
		keys[v->len] = key;
	}
	items[v->len++] = *item;
	return 0;
}

static void vj_clear(struct vj *v);

static int parse_container(struct p *p, struct vj *out, char close)
{
	p->i++;
	if (++p->depth > 64)
		return -1;
	ws(p);
	if (p->i < p->n && p->s[p->i] == close) {
		p->i++;
		p->depth--;
		return 0;
	}
	for (;;) {
		struct vj item = { 0 };
		char *key = NULL;
		size_t klen;

		ws(p);
		if (close == '}') {
			if (parse_string(p, &key, &klen))
				return -1;
			ws(p);
			if (p->i >= p->n || p->s[p->i] != ':') {
				free(key);
				return -1;
			}
			p->i++;
		}
		if (parse_value(p, &item) || push(out, &item, key)) {
			free(key);
			vj_clear(&item);
			return -1;
		}
		ws(p);
		if (p->i < p->n && p->s[p->i] == ',') {
			p->i++;
			continue;
		}
		if (p->i < p->n && p->s[p->i] == close) {
			p->i++;
			p->depth--;
			return 0;
		}
		return -1;
	}
}

static int parse_value(struct p *p, struct vj *out)
{
	memset(out, 0, sizeof(*out));
	ws(p);
	if (p->i >= p->n)
		return -1;
	char c = p->s[p->i];

	if (c == '{') {
		out->type = VJ_OBJ;
		return parse_container(p, out, '}');
	}
	if (c == '[') {
		out->type = VJ_ARR;
		return parse_container(p, out, ']');
	}
	if (c == '"') {
		out->type = VJ_STR;
		return parse_string(p, &out->str, &out->len);
	}
	if (p->n - p->i >= 4 && !memcmp(p->s + p->i, "null", 4)) {
		p->i += 4;
		out->type = VJ_NULL;
		return 0;
	}
	if (p->n - p->i >= 4 && !memcmp(p->s + p->i, "true", 4)) {
		p->i += 4;
		out->type = VJ_BOOL;
		out->b = true;
		return 0;
	}
	if (p->n - p->i >= 5 && !memcmp(p->s + p->i, "false", 5)) {
		p->i += 5;
		out->type = VJ_BOOL;
		return 0;
	}
	if (c == '-' || (c >= '0' && c <= '9')) {
		char buf[64];
		size_t k = 0;

		while (p->i < p->n && k < sizeof(buf) - 1 &&
		       strchr("+-0123456789.eE", p->s[p->i]))
			buf[k++] = p->s[p->i++];
		buf[k] = 0;
		out->type = VJ_NUM;
		out->num = strtod(buf, NULL);
		return 0;
	}
	return -1;
}

static void vj_clear(struct vj *v)
{
	for (size_t i = 0; (v->type == VJ_ARR || v->type == VJ_OBJ) && i < v->len; i++) {
		vj_clear(&v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->str);
	memset(v, 0, sizeof(*v));
}

void vj_free(struct vj *v)
{
	if (!v)
		return;
	vj_clear(v);
	free(v);
}

struct vj *vj_parse(const char *text, size_t len)
{
	struct p p = { .s = text, .n = len };
	struct vj *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	if (parse_value(&p, v)) {
		vj_free(v);
		return NULL;
	}
	ws(&p);
	if (p.i != p.n) {
		vj_free(v);
		return NULL;
	}
	return v;
}

struct vj *vj_load(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;
	struct vj *v;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	v = vj_parse(buf, (size_t)n);
	free(buf);
	return v;
}

const struct vj *vj_get(const struct vj *obj, const char *key)
{
	if (!obj || obj->type != VJ_OBJ)
		return NULL;
	for (size_t i = 0; i < obj->len; i++)
		if (strcmp(obj->keys[i], key) == 0)
			return &obj->items[i];
	return NULL;
}

uint64_t vj_u64(const struct vj *v)
{
	if (!v || v->type != VJ_STR || strncmp(v->str, "0x", 2) != 0) {
		fprintf(stderr, "vjson: expected a \"0x...\" integer\n");
		abort();
	}
	return strtoull(v->str, NULL, 0);
}

uint8_t *vj_hex(const struct vj *v, size_t *len)
{
	uint8_t *b;

	*len = 0;
	if (!v || v->type != VJ_STR || v->len % 2) {
		fprintf(stderr, "vjson: expected a hex string\n");
		abort();
	}
	if (!v->len)
		return NULL;
	b = malloc(v->len / 2);
	for (size_t i = 0; b && i < v->len / 2; i++) {
		int hi = hexval(v->str[2 * i]), lo = hexval(v->str[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			fprintf(stderr, "vjson: bad hex digit\n");
			abort();
		}
		b[i] = (uint8_t)(hi * 16 + lo);
	}
	*len = v->len / 2;
	return b;
}

/* ------------------------------------------------------------ conversion */

static int set_str(struct sq_str *dst, const struct vj *v)
{
	if (!v || v->type != VJ_STR)
		return -1;
	return sq_str_set(dst, v->str, v->len) ? -1 : 0;
}

static int opt_str(bool *has, struct sq_str *dst, const struct vj *v)
{
	if (!v)
		return -1;
	*has = v->type != VJ_NULL;
	return *has ? set_str(dst, v) : 0;
}

static int vcpu_from(struct sq_vcpu_state *c, const struct vj *v)
{
	const struct vj *regs = vj_get(v, "regs"), *fp = vj_get(v, "fp_regs");
	const struct vj *x = vj_get(regs, "x"), *q = vj_get(fp, "v");
	const struct vj *sys = vj_get(v, "sys_regs"), *psci = vj_get(v, "psci_state");

	if (!x || x->len != 31 || !q || q->len != 32 || !sys || !psci || psci->type != VJ_STR)
		return -1;
	c->mpidr = vj_u64(vj_get(v, "mpidr"));
	for (int i = 0; i < 31; i++)
		c->regs.x[i] = vj_u64(&x->items[i]);
	c->regs.sp = vj_u64(vj_get(regs, "sp"));
	c->regs.pc = vj_u64(vj_get(regs, "pc"));
	c->regs.pstate = vj_u64(vj_get(regs, "pstate"));
	for (int i = 0; i < 32; i++) {
		if (q->items[i].len != 2)
			return -1;
		c->fp_regs.v[i][0] = vj_u64(&q->items[i].items[0]);
		c->fp_regs.v[i][1] = vj_u64(&q->items[i].items[1]);
	}
	c->fp_regs.fpsr = vj_u64(vj_get(fp, "fpsr"));
	c->fp_regs.fpcr = vj_u64(vj_get(fp, "fpcr"));
	/* The pairs are kept exactly as listed (no set(): order is part of the test). */
	if (sys->len) {
		c->sys_regs = calloc(sys->len, sizeof(*c->sys_regs));
		if (!c->sys_regs)
			return -1;
		c->n_sys_regs = sys->len;
		for (size_t i = 0; i < sys->len; i++) {
			if (sys->items[i].len != 2)
				return -1;
			c->sys_regs[i].key = vj_u64(&sys->items[i].items[0]);
			c->sys_regs[i].value = vj_u64(&sys->items[i].items[1]);
		}
	}
	if (!strcmp(psci->str, "On"))
		c->psci_state = SQ_PSCI_ON;
	else if (!strcmp(psci->str, "Off"))
		c->psci_state = SQ_PSCI_OFF;
	else if (!strcmp(psci->str, "OnPending"))
		c->psci_state = SQ_PSCI_ON_PENDING;
	else
		return -1;
	return 0;
}

int vj_to_state(const struct vj *root, struct sq_microvm_state **out, uint64_t *magic,
		char **version)
{
	const struct vj *hdr = vj_get(root, "header"), *data = vj_get(root, "data");
	const struct vj *vi = vj_get(data, "vm_info"), *vcpus = vj_get(data, "vcpu_states");
	const struct vj *devs = vj_get(vj_get(data, "device_states"), "devices");
	const struct vj *gic = vj_get(data, "gic_state"), *mmds = vj_get(data, "mmds_state");
	const struct vj *ver = vj_get(hdr, "version");
	struct sq_microvm_state *s;

	*out = NULL;
	if (!hdr || !vi || !vcpus || vcpus->type != VJ_ARR || !devs || !gic || !mmds || !ver ||
	    ver->type != VJ_STR)
		return -1;
	if (sq_state_create(vcpus->len, &s))
		return -1;
	*magic = vj_u64(vj_get(hdr, "magic"));
	*version = strdup(ver->str);
	s->vm_info.mem_size_mib = vj_u64(vj_get(vi, "mem_size_mib"));
	s->vm_info.smt = vj_get(vi, "smt")->b;
	s->vm_info.track_dirty_pages = vj_get(vi, "track_dirty_pages")->b;
	if (set_str(&s->vm_info.cpu_template, vj_get(vi, "cpu_template")) ||
	    set_str(&s->vm_info.kernel_image_path, vj_get(vi, "kernel_image_path")) ||
	    opt_str(&s->vm_info.has_initrd_path, &s->vm_info.initrd_path,
		    vj_get(vi, "initrd_path")) ||
	    set_str(&s->vm_info.boot_args, vj_get(vi, "boot_args")))
		goto bad;
	for (size_t i = 0; i < vcpus->len; i++)
		if (vcpu_from(&s->vcpus[i], &vcpus->items[i]))
			goto bad;
	/* Devices in the listed order: the encoder must not sort. */
	if (devs->len) {
		s->devices = calloc(devs->len, sizeof(*s->devices));
		if (!s->devices)
			goto bad;
		s->n_devices = devs->len;
		for (size_t i = 0; i < devs->len; i++) {
			struct sq_device_state *d = &s->devices[i];
			const struct vj *o = &devs->items[i];

			if (set_str(&d->kind, vj_get(o, "kind")) || set_str(&d->id, vj_get(o, "id")))
				goto bad;
			d->mmio_slot = (uint32_t)vj_u64(vj_get(o, "mmio_slot"));
			d->blob = vj_hex(vj_get(o, "blob"), &d->blob_len);
		}
	}
	s->gic_state.len = vj_u64(vj_get(gic, "len"));
	s->gic_state.bytes = vj_hex(vj_get(gic, "bytes"), &s->gic_state.bytes_len);
	if (mmds->type != VJ_NULL) {
		const struct vj *ttl = vj_get(mmds, "token_ttl_seconds");

		s->has_mmds = true;
		if (set_str(&s->mmds_state.data_json, vj_get(mmds, "data_json")) || !ttl)
			goto bad;
		s->mmds_state.has_token_ttl = ttl->type != VJ_NULL;
		if (s->mmds_state.has_token_ttl)
			s->mmds_state.token_ttl_seconds = (uint32_t)vj_u64(ttl);
	}
	*out = s;
	return 0;
bad:
	sq_state_destroy(s);
	free(*version);
	*version = NULL;
	return -1;
}
