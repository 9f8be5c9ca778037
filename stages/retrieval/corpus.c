/*
 * Reading the corpus files, which the configuration names: the path is
 * treated as hostile. A file is read only when nobody but root or us
 * could have written it, and it is not a symlink to something else.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stages/retrieval/nxr.h"

static int
trusted(const struct stat *st, const char *dir, const char *name)
{
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		fprintf(stderr, "retrieval: %s/%s: owned by uid %u, neither root nor us\n", dir,
			name, (unsigned)st->st_uid);
		return NX_EPERM;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		fprintf(stderr, "retrieval: %s/%s: writable by group or others\n", dir, name);
		return NX_EPERM;
	}
	return 0;
}

int
nxr_corpus_read(int dirfd, const char *dir, const char *name, char **buf, size_t *len)
{
	struct stat st;
	size_t got = 0;
	char *b;
	int fd, rc;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		fprintf(stderr, "retrieval: %s/%s: %s\n", dir, name, strerror(errno));
		return errno == ELOOP ? NX_EPERM : NX_EINVAL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "retrieval: %s/%s: not a regular file\n", dir, name);
		close(fd);
		return NX_EINVAL;
	}
	rc = trusted(&st, dir, name);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	if ((uint64_t)st.st_size > NXR_FILE_MAX) {
		fprintf(stderr, "retrieval: %s/%s: %lld bytes, more than the %u allowed\n", dir, name,
			(long long)st.st_size, NXR_FILE_MAX);
		close(fd);
		return NX_EINVAL;
	}
	b = malloc((size_t)st.st_size + 1);
	if (b == NULL) {
		close(fd);
		return NX_ENOMEM;
	}
	/* read to the size fstat said: a file that grows meanwhile is cut there */
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, b + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	b[got] = '\0';
	*buf = b;
	*len = got;
	return 0;
}

int
nxr_corpus_open(const char *dir)
{
	struct stat st;
	int fd, rc;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "retrieval: corpus %s: %s\n", dir, strerror(errno));
		return errno == ELOOP || errno == EACCES ? NX_EPERM : NX_EINVAL;
	}
	if (fstat(fd, &st) != 0) {
		close(fd);
		return NX_EIO;
	}
	rc = trusted(&st, dir, ".");
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}
