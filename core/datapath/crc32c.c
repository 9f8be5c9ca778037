/*
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by
 * iSCSI, ext4 and SCTP. Why our own: it is 40 lines, the SSE4.2 crc32
 * instruction makes it about 8 bytes per cycle, and the core must not
 * depend on a library that pulls in more than it needs. The table
 * version serves CPUs without the instruction and checks the fast one in
 * the tests (check value of "123456789": 0xE3069283).
 */
#include <string.h>

#include "core/datapath/crc32c.h"

static uint32_t crc_table[256];

static void
crc_table_init(void)
{
	uint32_t i, j, c;

	for (i = 0; i < 256; i++) {
		c = i;
		for (j = 0; j < 8; j++)
			c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
		crc_table[i] = c;
	}
}

static uint32_t
crc_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t
crc_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;

	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	crc = (uint32_t)c;
	while (len--)
		crc = __builtin_ia32_crc32qi(crc, *p++);
	return crc;
}
#endif

static int crc_hw_ok;

/* Before main: the table and the CPU check are done once, before any
 * thread can race on them. */
__attribute__((constructor)) static void
crc_init(void)
{
	crc_table_init();
#if defined(__x86_64__)
	__builtin_cpu_init();
	crc_hw_ok = __builtin_cpu_supports("sse4.2");
#endif
}

uint32_t nx__crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* The table version, for the tests to check the fast one against. */
uint32_t
nx__crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	return ~crc_sw(~crc, buf, len);
}

uint32_t
nx__crc32c(uint32_t crc, const void *buf, size_t len)
{
#if defined(__x86_64__)
	if (crc_hw_ok)
		return ~crc_hw(~crc, buf, len);
#endif
	return ~crc_sw(~crc, buf, len);
}
