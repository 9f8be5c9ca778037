/*
 * Channel segments: layout, validation of what a peer hands us, the
 * private ring geometry, and ck rings in shared memory across fork().
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "core/control/segment.h"
#include "shm/shm_internal.h"

static struct nx_chan_geom
geom(uint32_t ring, uint32_t arena, uint32_t payload)
{
	struct nx_chan_geom g;

	assert_int_equal(nx__chan_geom(&g, (uint32_t)nx__page_size(), ring, arena, payload), 0);
	return g;
}

static void
test_geom_rejects_ring_not_power_of_two(void **state)
{
	struct nx_chan_geom g;

	(void)state;
	assert_int_equal(nx__chan_geom(&g, 4096, 100, 1 << 20, 65536), NX_EINVAL);
	assert_non_null(strstr(nx__errmsg(), "power of two"));
	assert_int_equal(nx__chan_geom(&g, 4096, 4, 1 << 20, 65536), NX_EINVAL);
	assert_int_equal(nx__chan_geom(&g, 4096, 1u << 17, 1 << 20, 65536), NX_EINVAL);
}

static void
test_geom_rejects_payload_larger_than_half_the_arena(void **state)
{
	struct nx_chan_geom g;

	(void)state;
	assert_int_equal(nx__chan_geom(&g, 4096, 256, 65536, 65536), NX_EINVAL);
	assert_non_null(strstr(nx__errmsg(), "arena of at least"));
}

static void
test_geom_puts_ring_geometry_alone_on_its_page(void **state)
{
	struct nx_chan_geom g = geom(256, 1 << 20, 65536);
	const uint32_t page = g.page_bytes;

	(void)state;
	/* size and mask start a page; c_head and p_tail are on the page before */
	assert_int_equal((g.req_ctl_off + NX_RING_GEOM_OFF) % page, 0);
	assert_int_equal((g.resp_ctl_off + NX_RING_GEOM_OFF) % page, 0);
	assert_true(g.resp_ctl_off >= g.req_ctl_off + NX_RING_GEOM_OFF + page - NX_RING_GEOM_OFF);
	assert_true(g.req_slots_off >= g.resp_ctl_off + NX_RING_GEOM_OFF + page);
	assert_int_equal(g.req_slots_off % page, 0);
	assert_int_equal(g.resp_slots_off, g.req_slots_off + 256 * 64);
	assert_int_equal(g.arena_off % page, 0);
	assert_int_equal(g.layout_bytes, g.arena_off + (1 << 20));
}

static void
test_create_then_map_sees_the_same_channel(void **state)
{
	struct nx_chan_geom g = geom(64, 1 << 16, 4096);
	struct nx_chan_view a, b;
	struct nx_req_desc d = { .pipeline = 7, .len = 3 }, out;
	int fd;

	(void)state;
	assert_int_equal(nx__chan_create(&a, &g, 5, 0, NX_WAIT_SPIN, 9), 0);
	fd = dup(a.fd);
	assert_int_equal(nx__chan_map(&b, fd), 0);
	assert_int_equal(b.hdr->chan_id, 5);
	assert_int_equal(b.g.ring_size, 64);
	assert_int_equal(b.g.layout_bytes, g.layout_bytes);
	memcpy(d.data, "abc", 3);
	assert_true(ck_ring_enqueue_spsc_nx_req(b.req, b.req_slots, &d));
	assert_true(ck_ring_dequeue_spsc_nx_req(a.req, a.req_slots, &out));
	assert_int_equal(out.pipeline, 7);
	assert_memory_equal(out.data, "abc", 3);
	nx__chan_unmap(&b);
	nx__chan_unmap(&a);
}

static void
test_private_geometry_ignores_a_peer_rewriting_the_mask(void **state)
{
	struct nx_chan_geom g = geom(64, 1 << 16, 4096);
	struct nx_chan_view a;
	uint32_t *shared_geom;
	uint8_t *shared;
	int i;

	(void)state;
	assert_int_equal(nx__chan_create(&a, &g, 0, 0, NX_WAIT_SPIN, 1), 0);
	/* A second, plain shared mapping stands for a hostile client. */
	assert_int_equal(nx__shm_map((void **)&shared, a.fd, g.layout_bytes, true), 0);
	shared_geom = NX_AT(uint32_t, shared, g.req_ctl_off + NX_RING_GEOM_OFF);
	shared_geom[0] = 0xffffffffu; /* size */
	shared_geom[1] = 0xffffffffu; /* mask */
	assert_int_equal(a.req->size, 64);
	assert_int_equal(a.req->mask, 63);
	/* and the indices a client can write are masked by our mask */
	for (i = 0; i < 200; i++) {
		struct nx_req_desc d;

		NX_AT(struct ck_ring, shared, g.req_ctl_off)->p_tail = 0x7fffffffu + (uint32_t)i;
		NX_AT(struct ck_ring, shared, g.req_ctl_off)->c_head = 0x12345u * (uint32_t)i;
		assert_true(ck_ring_dequeue_spsc_nx_req(a.req, a.req_slots, &d));
	}
	nx__shm_unmap(shared, g.layout_bytes);
	nx__chan_unmap(&a);
}

static void
test_map_rejects_an_unsealed_segment(void **state)
{
	int fd = memfd_create("x", MFD_CLOEXEC);
	struct nx_chan_view v;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	assert_int_equal(nx__chan_map(&v, fd), NX_EPROTO);
	assert_non_null(strstr(nx__errmsg(), "not sealed"));
	close(fd);
}

/* Create a channel, damage its header through a second mapping, map it. */
static int
map_damaged(size_t off, uint64_t value, int width)
{
	struct nx_chan_geom g = geom(64, 1 << 16, 4096);
	struct nx_chan_view a, b;
	uint8_t *shared;
	int rc, fd;

	assert_int_equal(nx__chan_create(&a, &g, 3, 0, NX_WAIT_SPIN, 1), 0);
	assert_int_equal(nx__shm_map((void **)&shared, a.fd, g.layout_bytes, true), 0);
	memcpy(shared + off, &value, (size_t)width);
	fd = dup(a.fd);
	rc = nx__chan_map(&b, fd);
	if (rc == 0)
		nx__chan_unmap(&b);
	else
		close(fd);
	nx__shm_unmap(shared, g.layout_bytes);
	nx__chan_unmap(&a);
	return rc;
}

static void
test_map_rejects_wrong_magic(void **state)
{
	(void)state;
	assert_int_equal(map_damaged(offsetof(struct nx_chan_hdr, magic), 0xdead, 4), NX_EPROTO);
	assert_non_null(strstr(nx__errmsg(), "magic"));
}

static void
test_map_rejects_another_abi(void **state)
{
	(void)state;
	assert_int_equal(map_damaged(offsetof(struct nx_chan_hdr, abi_version), 99, 4), NX_EABI);
	assert_non_null(strstr(nx__errmsg(), "ABI 99"));
}

static void
test_map_rejects_a_size_that_lies(void **state)
{
	(void)state;
	assert_int_equal(map_damaged(offsetof(struct nx_chan_hdr, layout_bytes), 1ull << 40, 8),
			 NX_EPROTO);
	assert_non_null(strstr(nx__errmsg(), "segment has"));
}

static void
test_map_rejects_offsets_that_do_not_match_the_geometry(void **state)
{
	(void)state;
	assert_int_equal(map_damaged(offsetof(struct nx_chan_hdr, arena_off), 4096, 4), NX_EPROTO);
	assert_non_null(strstr(nx__errmsg(), "offsets"));
	assert_int_equal(map_damaged(offsetof(struct nx_chan_hdr, ring_size), 100, 4), NX_EPROTO);
	assert_non_null(strstr(nx__errmsg(), "geometry"));
}

/* A child produces N sequence numbers through the ring; the parent
 * consumes them and checks every one, in order, none lost. */
#define FORK_N 1000000u

/*
 * The hand-off's flags against the slots' previous occupants: a response
 * slot starts a lap behind (seq 0 is not there before it is written), a
 * request slot at lap 0, which no request has; a request published by its
 * lap is there before its index moves.
 */
static void
test_a_new_channel_has_no_answer_and_no_request_until_published(void **state)
{
	struct nx_chan_geom g = geom(64, 1 << 16, 4096);
	struct nx_chan_view a, b;
	struct nx_req_desc *d, out;
	uint32_t i;

	(void)state;
	assert_int_equal(nx__chan_create(&a, &g, 0, 0, NX_WAIT_SPIN, 1), 0);
	assert_int_equal(nx__chan_map(&b, dup(a.fd)), 0);
	for (i = 0; i < 64; i++) {
		assert_false(nx__resp_ready(&b, i));
		assert_false(nx__req_ready(&a, i));
	}
	d = nx__req_slot(&b);
	d->pipeline = 3;
	d->len = 1;
	d->data[0] = 'x';
	nx__req_publish(&b, d);
	assert_true(nx__req_ready(&a, 0));
	assert_false(nx__req_ready(&a, 64)); /* the same slot, a lap later */
	nx__req_take(&a, 0, &out);
	assert_int_equal(out.pipeline, 3);
	assert_int_equal(a.req->c_head, 1);
	nx__chan_unmap(&b);
	nx__chan_unmap(&a);
}

/* The worker's room: its copy of the client's index is read again only
 * when it says full; a client ahead of p_tail (it took answers by their
 * seq and the nxd that wrote them died before moving p_tail) has room. */
static void
test_response_room_from_a_cached_index_and_a_client_ahead(void **state)
{
	struct nx_chan_geom g = geom(64, 1 << 16, 4096);
	struct nx_chan_view a;

	(void)state;
	assert_int_equal(nx__chan_create(&a, &g, 0, 0, NX_WAIT_SPIN, 1), 0);
	a.resp->p_tail = 63;      /* 63 answers, none read: full */
	assert_null(nx__resp_reserve(&a));
	a.resp->c_head = 1;       /* one read: room, once the copy is refreshed */
	assert_non_null(nx__resp_reserve(&a));
	assert_int_equal(a.resp_c_seen, 1);
	a.resp->c_head = 0;       /* the copy is used while it says room */
	assert_non_null(nx__resp_reserve(&a));
	a.resp->p_tail = 1000;
	a.resp->c_head = 1001;    /* the client ahead of the index */
	assert_ptr_equal(nx__resp_reserve(&a), &a.resp_slots[1000 & 63]);
	nx__chan_unmap(&a);
}

static void
test_rings_carry_every_message_in_order_across_fork(void **state)
{
	struct nx_chan_geom g = geom(256, 1 << 16, 4096);
	struct nx_chan_view a;
	uint64_t expect = 0, t0;
	pid_t pid;
	int status;

	(void)state;
	assert_int_equal(nx__chan_create(&a, &g, 0, 0, NX_WAIT_SPIN, 1), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct nx_chan_view b;
		uint64_t seq = 0;

		if (nx__chan_map(&b, dup(a.fd)) != 0)
			_exit(2);
		while (seq < FORK_N) {
			struct nx_req_desc d = { .pipeline = (uint8_t)seq };

			memcpy(d.data, &seq, sizeof seq);
			if (nx__req_enqueue(&b, &d)) /* the hand-off, across processes */
				seq++;
		}
		_exit(0);
	}
	t0 = nx__clock_ns();
	while (expect < FORK_N && nx__clock_ns() - t0 < 60000000000ull) {
		struct nx_req_desc d;
		uint64_t got;

		if (!nx__req_ready(&a, a.req->c_head))
			continue;
		nx__req_take(&a, a.req->c_head, &d);
		memcpy(&got, d.data, sizeof got);
		if (got != expect || d.pipeline != (uint8_t)expect)
			break;
		expect++;
	}
	if (expect != FORK_N)
		kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(expect, FORK_N);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	nx__chan_unmap(&a);
}

/* The payload copy into a slot: every length it takes, at every
 * alignment of either side, the same bytes as memcpy and none outside. */
static void
test_copy_small_copies_every_length_exactly(void **state)
{
	uint8_t src[NX_EXT_BYTES + 16], dst[NX_EXT_BYTES + 48], want[sizeof dst];
	uint32_t n, so, d_off, i;

	(void)state;
	for (i = 0; i < sizeof src; i++)
		src[i] = (uint8_t)(i * 37 + 11);
	for (n = 0; n <= NX_EXT_BYTES; n++)
		for (so = 0; so < 16; so += 5)
			for (d_off = 16; d_off < 32; d_off += 3) {
				memset(dst, 0xa5, sizeof dst);
				memset(want, 0xa5, sizeof want);
				memcpy(want + d_off, src + so, n);
				nx__copy_small(dst + d_off, src + so, n);
				if (memcmp(dst, want, sizeof dst) != 0)
					fail_msg("nx__copy_small: %u bytes from +%u to +%u differ from memcpy",
						 n, so, d_off);
			}
}

/* The write prefetch both sides issue is PREFETCHW exactly where the
 * CPU says it has it (a read prefetch elsewhere), and it is only a hint. */
static void
test_prefetch_w_is_what_the_cpu_has(void **state)
{
	static uint8_t line[64] __attribute__((aligned(64)));

	(void)state;
#if defined(__x86_64__) || defined(__i386__)
	unsigned a, b, c = 0, d;

	if (!__get_cpuid(0x80000001u, &a, &b, &c, &d))
		c = 0;
	assert_int_equal(nx__cpu_prefetchw, (c >> 8) & 1u);
#endif
	nx__prefetch_w(line);
	line[0] = 1;
	assert_int_equal(line[0], 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_geom_rejects_ring_not_power_of_two),
		cmocka_unit_test(test_geom_rejects_payload_larger_than_half_the_arena),
		cmocka_unit_test(test_geom_puts_ring_geometry_alone_on_its_page),
		cmocka_unit_test(test_create_then_map_sees_the_same_channel),
		cmocka_unit_test(test_private_geometry_ignores_a_peer_rewriting_the_mask),
		cmocka_unit_test(test_map_rejects_an_unsealed_segment),
		cmocka_unit_test(test_map_rejects_wrong_magic),
		cmocka_unit_test(test_map_rejects_another_abi),
		cmocka_unit_test(test_map_rejects_a_size_that_lies),
		cmocka_unit_test(test_map_rejects_offsets_that_do_not_match_the_geometry),
		cmocka_unit_test(test_a_new_channel_has_no_answer_and_no_request_until_published),
		cmocka_unit_test(test_response_room_from_a_cached_index_and_a_client_ahead),
		cmocka_unit_test(test_rings_carry_every_message_in_order_across_fork),
		cmocka_unit_test(test_copy_small_copies_every_length_exactly),
		cmocka_unit_test(test_prefetch_w_is_what_the_cpu_has),
	};

	return cmocka_run_group_tests_name("channel", tests, NULL, NULL);
}
