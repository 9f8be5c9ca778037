/* Shared memory: named POSIX segments, sealed memfds, mappings, locks. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../nx_platform.h"

int
nx__shm_create(const char *name, size_t len, uint32_t mode)
{
	int fd;

	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
	if (fd < 0) {
		if (errno == EEXIST)
			return nx__err(NX_EBUSY, "segment %s exists", name);
		if (errno == EACCES)
			return nx__err_sys(NX_EPERM, errno, "create segment %s", name);
		return nx__err_sys(NX_EIO, errno, "create segment %s", name);
	}
	/* shm_open applies the umask; the mode is part of the contract */
	if (fchmod(fd, (mode_t)mode) != 0 || ftruncate(fd, (off_t)len) != 0) {
		int e = errno;

		close(fd);
		shm_unlink(name);
		return nx__err_sys(NX_EIO, e, "size segment %s to %zu bytes", name, len);
	}
	return fd;
}

int
nx__shm_open(const char *name, bool writable)
{
	int fd = shm_open(name, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC, 0);

	if (fd < 0) {
		if (errno == ENOENT)
			return nx__err(NX_ENOENT, "segment %s does not exist", name);
		if (errno == EACCES)
			return nx__err_sys(NX_EPERM, errno, "open segment %s", name);
		return nx__err_sys(NX_EIO, errno, "open segment %s", name);
	}
	return fd;
}

int
nx__shm_own(int fd, const char *name, uint32_t mode)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return nx__err_sys(NX_EIO, errno, "segment %s", name);
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid())
		return nx__err(NX_EPERM, "segment /dev/shm%s belongs to uid %u, not to uid %u: "
			       "another user made it; refusing to use it (remove it, or pick "
			       "another instance name)", name, (unsigned)st.st_uid,
			       (unsigned)geteuid());
	if ((st.st_mode & 07777) != mode && fchmod(fd, (mode_t)mode) != 0)
		return nx__err_sys(NX_EIO, errno, "chmod segment %s", name);
	return 0;
}

int
nx__shm_unlink(const char *name)
{
	if (shm_unlink(name) != 0) {
		if (errno == ENOENT)
			return NX_ENOENT;
		return nx__err_sys(NX_EIO, errno, "remove segment %s", name);
	}
	return 0;
}

bool
nx__shm_exists(const char *name)
{
	int fd = shm_open(name, O_RDONLY | O_CLOEXEC, 0);

	if (fd < 0)
		return errno != ENOENT;
	close(fd);
	return true;
}

int
nx__shm_create_anon(const char *name, size_t len)
{
	int fd;

	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return nx__err_sys(NX_EIO, errno, "memfd_create %s", name);
	if (ftruncate(fd, (off_t)len) != 0) {
		int e = errno;

		close(fd);
		return nx__err_sys(NX_EIO, e, "size memfd %s to %zu bytes", name, len);
	}
	/* A peer that could shrink the file would make our accesses SIGBUS. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
		int e = errno;

		close(fd);
		return nx__err_sys(NX_EIO, e, "seal memfd %s", name);
	}
	return fd;
}

bool
nx__shm_is_sealed(int fd)
{
	int seals = fcntl(fd, F_GET_SEALS);

	return seals >= 0 && (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) == (F_SEAL_SHRINK | F_SEAL_GROW);
}

int64_t
nx__shm_size(int fd)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return nx__err_sys(NX_EIO, errno, "fstat");
	return (int64_t)st.st_size;
}

bool
nx__shm_unlinked(int fd)
{
	struct stat st;

	return fstat(fd, &st) != 0 || st.st_nlink == 0;
}

int64_t
nx__shm_owner(int fd)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return -1;
	return (int64_t)st.st_uid;
}

int
nx__shm_map(void **out, int fd, size_t len, bool writable)
{
	void *p;

	p = mmap(NULL, len, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return nx__err_sys(NX_EIO, errno, "mmap %zu bytes", len);
	*out = p;
	return 0;
}

int
nx__shm_unmap(void *addr, size_t len)
{
	if (addr == NULL)
		return 0;
	if (munmap(addr, len) != 0)
		return nx__err_sys(NX_EIO, errno, "munmap");
	return 0;
}

int
nx__shm_overlay_private(void *page_addr)
{
	void *p;

	p = mmap(page_addr, nx__page_size(), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED)
		return nx__err_sys(NX_EIO, errno, "overlay private page");
	return 0;
}

int
nx__shm_lock(int fd)
{
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			return NX_EBUSY;
		return nx__err_sys(NX_EIO, errno, "flock");
	}
	return 0;
}

void
nx__fd_close(int fd)
{
	if (fd >= 0)
		close(fd);
}

size_t
nx__page_size(void)
{
	static size_t page;

	if (page == 0)
		page = (size_t)sysconf(_SC_PAGESIZE);
	return page;
}

int
nx__mem_lock_all(void)
{
	if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
		if (errno == EPERM)
			return nx__err(NX_EPERM, "mlockall: not permitted (needs CAP_IPC_LOCK or RLIMIT_MEMLOCK)");
		if (errno == ENOMEM)
			return nx__err(NX_ENOMEM, "mlockall: RLIMIT_MEMLOCK too small");
		return nx__err_sys(NX_EIO, errno, "mlockall");
	}
	return 0;
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif

void
nx__mem_prefault(void *addr, size_t len, bool writable)
{
	const volatile uint8_t *p = addr;
	size_t page = nx__page_size(), off;

	/* Populate without storing: a peer may be writing the same pages. */
	if (madvise(addr, len, writable ? MADV_POPULATE_WRITE : MADV_POPULATE_READ) == 0)
		return;
	for (off = 0; off < len; off += page)
		(void)p[off];
}
