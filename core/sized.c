/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/sized.c - the caller's size-prefixed structs (core/sized.h).
 */
#include "core/sized.h"

#include <string.h>

#include "core/err.h"

static uint32_t sized_size(const void *s)
{
	uint32_t size;

	memcpy(&size, s, sizeof(size));
	return size;
}

int sq_sized_check(const void *caller, size_t v0_size, const char *type)
{
	uint32_t size;

	if (!caller)
		return 0;
	size = sized_size(caller);
	if (size == 0)
		return sq_err(SQ_E_INVAL, "struct %s: size is 0 (initialise it with SQ_INIT(struct %s))",
			      type, type);
	if (size < v0_size)
		return sq_err(SQ_E_INVAL,
			      "struct %s: size %u is smaller than its first layout (%zu bytes)", type,
			      (unsigned)size, v0_size);
	return 0;
}

int sq_sized_in(void *local, size_t local_size, const void *caller, size_t v0_size, const char *type)
{
	uint32_t own = (uint32_t)local_size;
	size_t n;
	int rc = sq_sized_check(caller, v0_size, type);

	if (rc)
		return rc;
	if (caller) {
		n = sized_size(caller);
		memcpy(local, caller, n < local_size ? n : local_size);
	}
	memcpy(local, &own, sizeof(own));
	return 0;
}

void sq_sized_out(void *caller, const void *local, size_t local_size)
{
	size_t n;

	if (!caller)
		return;
	n = sized_size(caller);
	if (n > local_size)
		n = local_size;
	if (n > sizeof(uint32_t))
		memcpy((char *)caller + sizeof(uint32_t), (const char *)local + sizeof(uint32_t),
		       n - sizeof(uint32_t));
}
