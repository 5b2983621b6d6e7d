/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/error.c - code table and the thread-local last-error message.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"

#define SQ_ERR_MSG_MAX 512

static _Thread_local char sq_last_msg[SQ_ERR_MSG_MAX];
static _Thread_local int sq_last_code;

const char *sq_strerror(int code)
{
	switch (code) {
#define SQ_ERROR_TEXT_(name, value, text) \
	case (value):                     \
		return text;
		SQ_ERROR_LIST(SQ_ERROR_TEXT_)
#undef SQ_ERROR_TEXT_
	default:
		return "unknown error";
	}
}

const char *sq_error_name(int code)
{
	switch (code) {
#define SQ_ERROR_NAME_(name, value, text) \
	case (value):                     \
		return #name;
		SQ_ERROR_LIST(SQ_ERROR_NAME_)
#undef SQ_ERROR_NAME_
	default:
		return "SQ_E_UNKNOWN";
	}
}

const char *sq_last_error(void)
{
	return sq_last_msg;
}

int sq_last_error_code(void)
{
	return sq_last_code;
}

int sq_err(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sq_last_msg, sizeof(sq_last_msg), fmt, ap);
	va_end(ap);
	sq_last_code = code;
	return code;
}

static const char *class_prefix(int cls)
{
	switch (cls) {
	case SQ_E_IO:
		return "snapshot I/O error";
	case SQ_E_MEMORY_IO:
		return "memory file I/O error";
	case SQ_E_ATOMIC_COMMIT_FAILED:
		return "atomic commit (rename) failed";
	default:
		return sq_strerror(cls);
	}
}

int sq_err_sys(int cls, int errnum, const char *context)
{
	int code = cls;
	char os[128];

	if (errnum == ENOSPC || errnum == EDQUOT)
		code = SQ_E_NO_SPACE;
	else if (errnum == ENOMEM)
		code = SQ_E_NOMEM;
	/* strerror_r (GNU) may or may not use the buffer. */
	const char *s = strerror_r(errnum, os, sizeof(os));

	if (context && *context)
		return sq_err(code, "%s: %s (os error %d) [%s]", class_prefix(cls), s, errnum,
			      context);
	return sq_err(code, "%s: %s (os error %d)", class_prefix(cls), s, errnum);
}
