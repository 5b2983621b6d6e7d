/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The squib-snap helpers (tools/cli_util.c, tools/cli_json.c): checked number
 * parsing at and past every bound, the option iterator's forms, and the JSON
 * string rule (valid UTF-8 kept, every other byte as U+0080..U+00FF).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/cli.h"

/* The command table is not linked here. */
void sq_cli_register(struct sq_cli_command *cmd)
{
	(void)cmd;
}

static void u64_bounds(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_int_equal(sq_parse_u64("0", 0, 10, &v), 0);
	assert_true(v == 0);
	assert_int_equal(sq_parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(sq_parse_u64("18446744073709551616", 0, UINT64_MAX, &v), -ERANGE);
	assert_int_equal(sq_parse_u64("99999999999999999999999", 0, UINT64_MAX, &v), -ERANGE);
	assert_int_equal(sq_parse_u64("11", 0, 10, &v), -ERANGE);
	assert_int_equal(sq_parse_u64("4", 5, 10, &v), -ERANGE);
	assert_true(v == UINT64_MAX); /* untouched on error */
	static const char *const junk[] = { "", "-1", "+1", " 1", "1 ", "12abc", "0x10", "1e3",
					    "nan", "inf", "1.0", "-0", "\t3" };
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		assert_int_equal(sq_parse_u64(junk[i], 0, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(sq_parse_u64(NULL, 0, 1, &v), -EINVAL);
}

static void size_suffixes(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(sq_parse_size_range("64k", 0, UINT64_MAX, &v), 0);
	assert_true(v == 65536);
	assert_int_equal(sq_parse_size_range("2MiB", 0, UINT64_MAX, &v), 0);
	assert_true(v == 2u << 20);
	assert_int_equal(sq_parse_size_range("1GB", 0, UINT64_MAX, &v), 0);
	assert_true(v == 1u << 30);
	assert_int_equal(sq_parse_size_range("3T", 0, UINT64_MAX, &v), 0);
	assert_true(v == 3ull << 40);
	/* 16777216T = 2^64: one past the end. */
	assert_int_equal(sq_parse_size_range("16777215T", 0, UINT64_MAX, &v), 0);
	assert_int_equal(sq_parse_size_range("16777216T", 0, UINT64_MAX, &v), -ERANGE);
	assert_int_equal(sq_parse_size_range("1M", 0, (1u << 20) - 1, &v), -ERANGE);
	static const char *const junk[] = { "", "-1", "-1M", "k", "1kk", "1iB", "1B", "1Mi B",
					    "1.5G", "1e9", " 1M", "0x1M", "1P", "nan" };
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		assert_int_equal(sq_parse_size_range(junk[i], 0, UINT64_MAX, &v), -EINVAL);
	unsigned long long u;
	assert_int_equal(sq_parse_size("99999999999999999999999", &u), -1);
	assert_int_equal(sq_parse_size("4096", &u), 0);
	assert_true(u == 4096);
}

static void doubles(void **state)
{
	double v = 0;

	(void)state;
	assert_int_equal(sq_parse_double("0.5", 0, 1, &v), 0);
	assert_true(v == 0.5);
	assert_int_equal(sq_parse_double(".25", 0, 1, &v), 0);
	assert_int_equal(sq_parse_double("1e3", 0, 1e4, &v), 0);
	assert_true(v == 1000);
	assert_int_equal(sq_parse_double("1e999", 0, 1e300, &v), -ERANGE);
	assert_int_equal(sq_parse_double("1e-999", 0, 1, &v), -ERANGE);
	assert_int_equal(sq_parse_double("2", 0, 1, &v), -ERANGE);
	static const char *const junk[] = { "", "nan", "NaN", "inf", "infinity", "-1", "+1", " 1",
					    "1 ", "12abc", "0x10", "0x1p3", ".", "e5", "1e", "-0" };
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		assert_int_equal(sq_parse_double(junk[i], 0, 1e300, &v), -EINVAL);
}

static const struct sq_opt opts[] = {
	{ "size", 0, 1, 's' }, { "keep", 0, 0, 'k' }, { "output", 'o', 1, 'o' },
	{ NULL, 0, 0, 0 },
};

/* Runs the iterator over @args; returns the keys seen, as a string. */
static int run_opts(int argc, char **argv, char *keys, const char **vals)
{
	struct sq_cli cli = { .json = 1, .prog = "t" };
	struct sq_opt_parser p;
	int k, n = 0;

	sq_opt_init(&p, &cli, "t", argc, argv);
	while ((k = sq_opt_next(&p, opts)) != SQ_OPT_END) {
		if (k == SQ_OPT_ERROR)
			return -1;
		keys[n] = k == SQ_OPT_POSITIONAL ? 'P' : (char)k;
		vals[n++] = p.arg;
	}
	keys[n] = 0;
	return n;
}

static void option_forms(void **state)
{
	char keys[16];
	const char *vals[16];
	char *a[] = { "t", "--size=4M", "--keep", "x", "-oOUT", "--output", "o2", "-o", "o3",
		      "--size", "-1", "-", "--", "--keep", NULL };

	(void)state;
	assert_int_equal(run_opts(14, a, keys, vals), 9);
	assert_string_equal(keys, "skPooosPP");
	assert_string_equal(vals[0], "4M");
	assert_string_equal(vals[2], "x");
	assert_string_equal(vals[3], "OUT");
	assert_string_equal(vals[4], "o2");
	assert_string_equal(vals[5], "o3");
	assert_string_equal(vals[6], "-1"); /* a value may start with '-' */
	assert_string_equal(vals[7], "-");
	assert_string_equal(vals[8], "--keep"); /* after "--" */

	char *bad1[] = { "t", "--keep=1" }, *bad2[] = { "t", "--size" }, *bad3[] = { "t", "--size=" },
	     *bad4[] = { "t", "--sizes=1" }, *bad5[] = { "t", "--siz", "1" }, *bad6[] = { "t", "-x" };
	assert_int_equal(run_opts(2, bad1, keys, vals), -1);
	assert_int_equal(run_opts(2, bad2, keys, vals), -1);
	assert_int_equal(run_opts(2, bad3, keys, vals), -1);
	assert_int_equal(run_opts(2, bad4, keys, vals), -1);
	assert_int_equal(run_opts(3, bad5, keys, vals), -1);
	assert_int_equal(run_opts(2, bad6, keys, vals), -1);
}

/* The dumped JSON text of sq_json_textn(@in, @n) equals @want. */
static void text_is(const char *in, size_t n, const char *want)
{
	json_t *j = sq_json_textn(in, n);
	char *s;

	assert_non_null(j);
	s = json_dumps(j, JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
	assert_non_null(s);
	assert_string_equal(s, want);
	free(s);
	json_decref(j);
}

static void json_strings(void **state)
{
	(void)state;
	text_is("plain/path", 10, "\"plain/path\"");
	text_is("a\"b\\c\n", 6, "\"a\\\"b\\\\c\\n\"");
	text_is("x\xffy", 3, "\"x\\u00FFy\"");
	text_is("\xc3\xa9", 2, "\"\\u00E9\"");                 /* é kept */
	text_is("\xf0\x9f\x98\x80", 4, "\"\\uD83D\\uDE00\"");  /* U+1F600 kept */
	text_is("\xc0\x80", 2, "\"\\u00C0\\u0080\"");          /* overlong NUL */
	text_is("\xed\xa0\x80", 3, "\"\\u00ED\\u00A0\\u0080\""); /* a surrogate */
	text_is("\xf4\x90\x80\x80", 4, "\"\\u00F4\\u0090\\u0080\\u0080\""); /* > U+10FFFF */
	text_is("\xe2\x82", 2, "\"\\u00E2\\u0082\"");          /* truncated € */
	text_is("a\0b", 3, "\"a\\u0000b\"");
	json_t *n = sq_json_text(NULL);
	assert_true(json_is_null(n));
	json_decref(n);
	n = sq_json_real(0.0 / 0.0);
	assert_true(json_is_null(n));
	json_decref(n);
	n = sq_json_u64(UINT64_MAX);
	assert_true(json_integer_value(n) == INT64_MAX);
	json_decref(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(u64_bounds),   cmocka_unit_test(size_suffixes),
		cmocka_unit_test(doubles),      cmocka_unit_test(option_forms),
		cmocka_unit_test(json_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
