/* SPDX-License-Identifier: Apache-2.0 */
#include <squib/version.h>

const char *sq_version(void)
{
	return SQ_VERSION_STRING;
}

unsigned sq_version_number(void)
{
	return SQ_VERSION_NUMBER;
}
