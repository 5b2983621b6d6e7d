/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/entry.h - the libFuzzer entry points, force-included into every
 * fuzz_*.c (by tests/fuzz/CMakeLists.txt for the fuzzing build and by
 * tests/hardening/CMakeLists.txt for the regression replay), so that a
 * target needs no declaration of its own.
 *
 * LLVMFuzzerTestOneInput() must return 0 and must not keep state that makes
 * the result of one input depend on the inputs before it.
 */
#ifndef SQ_FUZZ_ENTRY_H
#define SQ_FUZZ_ENTRY_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif /* SQ_FUZZ_ENTRY_H */
