/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The IO seam is complete: no library source calls a file or socket system
 * call except through core/sysio.c, and every site in core/io_sites.def is
 * used by some source. Together with the fault-injection tests, which
 * iterate the site table, a new IO call site cannot go untested.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <ctype.h>

#include "core/sysio.h"
#include "helpers.h"

static const char *const raw_calls[] = {
	"open", "openat", "creat", "read", "pread", "pread64", "preadv", "preadv2", "write",
	"pwrite", "pwrite64", "pwritev", "pwritev2", "fsync", "fdatasync", "rename",
	"renameat", "renameat2", "copy_file_range", "send", "recv", "sendmsg", "recvmsg",
	"sendto", "recvfrom", "ftruncate", "fallocate", "sendfile", "splice",
	"fopen", "fwrite", "fread", NULL
};

static const char *const lib_dirs[] = { "core", "state", "engine", "io", "snapshot", "migrate",
					NULL };

static char *all_sources; /* concatenation, comments stripped */
static size_t all_len;
static char offenders[4096];

/* Remove comments and string literals so that prose does not count. */
static void strip(char *s)
{
	char *o = s;
	for (char *p = s; *p;) {
		if (p[0] == '/' && p[1] == '*') {
			char *e = strstr(p + 2, "*/");
			p = e ? e + 2 : p + strlen(p);
			*o++ = ' ';
		} else if (p[0] == '/' && p[1] == '/') {
			while (*p && *p != '\n')
				p++;
		} else if (*p == '"') {
			p++;
			while (*p && *p != '"') {
				if (*p == '\\' && p[1])
					p++;
				p++;
			}
			if (*p)
				p++;
			*o++ = '"';
			*o++ = '"';
		} else if (*p == '\'' && p[1] && p[2] == '\'') {
			p += 3;
			*o++ = '0';
		} else {
			*o++ = *p++;
		}
	}
	*o = 0;
}

static void scan_file(const char *path, const char *rel)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	if (sq_test_read_file(path, &buf, &len))
		return;
	char *s = realloc(buf, len + 1);
	s[len] = 0;
	strip(s);
	all_sources = realloc(all_sources, all_len + strlen(s) + 2);
	memcpy(all_sources + all_len, s, strlen(s) + 1);
	all_len += strlen(s);
	all_sources[all_len++] = '\n';
	all_sources[all_len] = 0;
	if (strcmp(rel, "core/sysio.c") != 0) {
		for (int i = 0; raw_calls[i]; i++) {
			size_t n = strlen(raw_calls[i]);
			for (char *p = strstr(s, raw_calls[i]); p; p = strstr(p + 1, raw_calls[i])) {
				char before = p == s ? ' ' : p[-1];
				if (isalnum((unsigned char)before) || before == '_' || before == '.' ||
				    before == '>')
					continue;
				char *q = p + n;
				while (*q == ' ' || *q == '\t')
					q++;
				if (*q != '(')
					continue;
				/* a declaration or definition of our own, e.g. "int read(" */
				snprintf(offenders + strlen(offenders),
					 sizeof(offenders) - strlen(offenders), "%s: %s()\n", rel,
					 raw_calls[i]);
			}
		}
	}
	free(s);
}

static void scan_tree(void)
{
	for (int d = 0; lib_dirs[d]; d++) {
		char *cmd;
		if (asprintf(&cmd, "cd '%s' && find %s -name '*.c' -o -name '*.h' | sort",
			     SQ_SOURCE_DIR, lib_dirs[d]) < 0)
			fail();
		FILE *f = popen(cmd, "r");
		free(cmd);
		assert_non_null(f);
		char rel[512];
		while (fgets(rel, sizeof(rel), f)) {
			rel[strcspn(rel, "\n")] = 0;
			char path[1024];
			snprintf(path, sizeof(path), "%s/%s", SQ_SOURCE_DIR, rel);
			scan_file(path, rel);
		}
		pclose(f);
	}
}

static void no_raw_io_outside_the_seam(void **state)
{
	(void)state;
	if (offenders[0])
		fprintf(stderr, "raw IO calls outside core/sysio.c:\n%s", offenders);
	assert_string_equal(offenders, "");
}

static void every_site_is_used(void **state)
{
	(void)state;
	static const char *const names[] = {
#define SQ_IO_SITE(name, str, kind) "SQ_SITE_" #name,
#include "core/io_sites.def"
#undef SQ_IO_SITE
	};
	int missing = 0;
	for (int i = 0; i < SQ_SITE_COUNT; i++) {
		assert_string_not_equal(sq_io_site_name(i), "?");
		if (!strstr(all_sources, names[i])) {
			fprintf(stderr, "site %s is listed but never used\n", names[i]);
			missing++;
		}
	}
	assert_int_equal(missing, 0);
}

int main(void)
{
	scan_tree();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(no_raw_io_outside_the_seam),
		cmocka_unit_test(every_site_is_used),
	};
	int rc = cmocka_run_group_tests_name("core/io_sites", tests, NULL, NULL);
	free(all_sources);
	return rc;
}
