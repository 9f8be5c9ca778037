/* crc32c.h - CRC-32C (Castagnoli), hardware-assisted where the CPU has it. */
#ifndef NX_CORE_CRC32C_H
#define NX_CORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t nx__crc32c(uint32_t crc, const void *buf, size_t len);

#endif /* NX_CORE_CRC32C_H */
