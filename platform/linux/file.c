/*
 * Files an operator names: configuration files and plugins.
 *
 * A path is hostile until checked. Opening a FIFO, a device or a
 * directory for reading can block forever (a FIFO with no writer), has
 * side effects (some devices act on open), or never ends (/dev/zero), and
 * the control thread must never wait unbounded. So nothing is opened for
 * reading until an O_PATH descriptor of the same file (no side effect,
 * no wait) has shown, by fstat, a regular file of bounded size; the read
 * descriptor is opened O_NONBLOCK and checked to be that same file.
 *
 * Trusted files (NX_FILE_TRUSTED: what nxd loads or parses on a request
 * over the control socket) are also held to what the dynamic loader
 * demands in secure mode: the file and the directory holding it are
 * owned by root or by nxd's uid and writable by no one else; every
 * directory above is owned by root or nxd's uid and writable by no one
 * else unless it is sticky (/tmp: others cannot rename or remove what is
 * not theirs). The walk goes component by component from / with O_PATH
 * and O_NOFOLLOW on the resolved path, so what is checked is what is
 * opened: a component replaced by a symlink meanwhile makes it fail.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "../nx_platform.h"

/* What a walk holds the files on its way to. */
struct walk_rules {
	bool trusted;     /* NX_FILE_TRUSTED: owners and modes are checked */
	int64_t also_uid; /* a uid trusted besides root and ours (a client told
			   * which uid its nxd runs as); -1 none */
	bool to_dir;      /* it ends at a directory: the one holding that may be sticky */
};

static bool
owner_ok(const struct walk_rules *r, const struct stat *st)
{
	return st->st_uid == 0 || st->st_uid == geteuid() ||
	       (r->also_uid >= 0 && (int64_t)st->st_uid == r->also_uid);
}

static const char *
kind_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFDIR: return "a directory";
	case S_IFIFO: return "a FIFO";
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	case S_IFSOCK: return "a socket";
	case S_IFLNK: return "a symbolic link";
	default: return "not a regular file";
	}
}

/* A directory on the way to a trusted file. last: the one holding it. */
static int
dir_check(const struct walk_rules *r, const char *path, const struct stat *st, bool last,
	  const char *what)
{
	if (!owner_ok(r, st))
		return nx__err(NX_EPERM, "%s: directory %s belongs to uid %u, not root or uid %u",
			       what, path, (unsigned)st->st_uid, (unsigned)geteuid());
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && (last || !(st->st_mode & S_ISVTX)))
		return nx__err(NX_EPERM, "%s: directory %s is writable by %s (mode %04o)", what,
			       path, (st->st_mode & S_IWOTH) ? "others" : "its group",
			       (unsigned)(st->st_mode & 07777));
	return 0;
}

/* The next component of *todo (skipping slashes), NUL-terminated in place. */
static char *
next_component(char **todo)
{
	char *c = *todo, *e;

	while (*c == '/')
		c++;
	if (*c == '\0')
		return NULL;
	e = strchr(c, '/');
	if (e != NULL) {
		*e = '\0';
		*todo = e + 1;
	} else {
		*todo = c + strlen(c);
	}
	return c;
}

static bool
only_slashes(const char *s)
{
	while (*s == '/')
		s++;
	return *s == '\0';
}

#define NX_MAX_LINKS 40 /* as the kernel's ELOOP */

#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC 0x65735546
#endif

/* A file system whose server says what owner and mode files have (FUSE,
 * mountable by users) proves nothing by them. */
static bool
fs_trusted(int fd)
{
	struct statfs sf;

	return fstatfs(fd, &sf) == 0 && sf.f_type != FUSE_SUPER_MAGIC;
}

/*
 * Resolve path component by component from /, each with O_PATH and
 * O_NOFOLLOW, following symbolic links by hand so that every directory
 * walked through (and, trusted, every link's owner) is checked. On
 * success *dfd holds the directory of the file, *name its last component
 * (in todo_buf), st the file's stat and real the resolved path.
 */
static int
walk(const char *path, const struct walk_rules *r, const char *what, char *todo_buf, size_t todo_cap,
     char *real, size_t real_cap, int *dfd_out, const char **name, struct stat *st)
{
	char rest[2 * PATH_MAX], link[PATH_MAX];
	char *todo = todo_buf;
	struct stat dst;
	unsigned links = 0;
	size_t rlen = 0;
	int dfd;

	if (path[0] == '/') {
		snprintf(todo_buf, todo_cap, "%s", path);
	} else {
		char cwd[PATH_MAX];

		if (getcwd(cwd, sizeof cwd) == NULL)
			return nx__err_sys(NX_EIO, errno, "%s %s: the current directory", what, path);
		if ((size_t)snprintf(todo_buf, todo_cap, "%s/%s", cwd, path) >= todo_cap)
			return nx__err(NX_EINVAL, "%s %s: path too long", what, path);
	}
	real[0] = '\0';
	dfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fstat(dfd, &dst) != 0) {
		int e = errno;

		if (dfd >= 0)
			close(dfd);
		return nx__err_sys(NX_EIO, e, "%s: /", what);
	}
	for (;;) {
		char *c = next_component(&todo);
		bool last;
		int pfd, rc;

		if (c == NULL) {
			close(dfd);
			return nx__err(NX_EINVAL, "%s %s is a directory, not a file", what, path);
		}
		last = only_slashes(todo);
		if (strcmp(c, ".") == 0)
			continue;
		if (r->trusted) {
			rc = dir_check(r, rlen == 0 ? "/" : real, &dst, last && !r->to_dir, what);
			if (rc < 0) {
				close(dfd);
				return rc;
			}
		}
		pfd = openat(dfd, c, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (pfd < 0 || fstat(pfd, st) != 0) {
			int e = errno;

			if (pfd >= 0)
				close(pfd);
			close(dfd);
			return nx__err_sys(e == ENOENT || e == ENOTDIR ? NX_ENOENT
					   : e == EACCES ? NX_EPERM
					   : e == ENAMETOOLONG || e == ELOOP ? NX_EINVAL : NX_EIO, e,
					   "%s %s", what, path);
		}
		if (r->trusted && !fs_trusted(pfd)) {
			close(pfd);
			close(dfd);
			return nx__err(NX_EPERM, "%s %s: %s/%s is on a file system its owner controls "
				       "(FUSE): its owner and mode cannot be believed", what, path,
				       real, c);
		}
		if (S_ISLNK(st->st_mode)) {
			ssize_t n;

			if (++links > NX_MAX_LINKS || (r->trusted && !owner_ok(r, st))) {
				close(pfd);
				close(dfd);
				return links > NX_MAX_LINKS
					? nx__err(NX_EINVAL, "%s %s: too many symbolic links", what, path)
					: nx__err(NX_EPERM, "%s %s: symbolic link %s/%s belongs to uid %u",
						  what, path, real, c, (unsigned)st->st_uid);
			}
			/* the very link stat'ed, not the name again */
			n = readlinkat(pfd, "", link, sizeof link - 1);
			close(pfd);
			if (n <= 0) {
				int e = errno;

				close(dfd);
				return nx__err_sys(NX_EIO, e, "%s %s: readlink", what, path);
			}
			link[n] = '\0';
			if ((size_t)snprintf(rest, sizeof rest, "%s", todo) >= sizeof rest ||
			    (size_t)snprintf(todo_buf, todo_cap, "%s%s%s", link, rest[0] ? "/" : "",
					     rest) >= todo_cap) {
				close(dfd);
				return nx__err(NX_EINVAL, "%s %s: path too long", what, path);
			}
			todo = todo_buf;
			if (link[0] == '/') {
				close(dfd);
				dfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
				if (dfd < 0 || fstat(dfd, &dst) != 0) {
					int e = errno;

					if (dfd >= 0)
						close(dfd);
					return nx__err_sys(NX_EIO, e, "%s: /", what);
				}
				rlen = 0;
				real[0] = '\0';
			}
			continue;
		}
		if (strcmp(c, "..") == 0) {
			/* the parent of a directory already walked (and checked) */
			char *slash = strrchr(real, '/');

			close(dfd);
			dfd = pfd;
			dst = *st;
			if (slash != NULL) {
				*slash = '\0';
				rlen = (size_t)(slash - real);
			}
			continue;
		}
		if (rlen + 1 + strlen(c) >= real_cap) {
			close(pfd);
			close(dfd);
			return nx__err(NX_EINVAL, "%s %s: path too long", what, path);
		}
		real[rlen++] = '/';
		strcpy(real + rlen, c);
		rlen += strlen(c);
		if (last) {
			close(pfd);
			if (todo != c + strlen(c) && !S_ISDIR(st->st_mode)) {
				/* "file/": not a directory (as the kernel says) */
				close(dfd);
				return nx__err(NX_ENOENT, "%s %s: not a directory", what, path);
			}
			*dfd_out = dfd;
			*name = c;
			return 0;
		}
		if (!S_ISDIR(st->st_mode)) {
			close(pfd);
			close(dfd);
			return nx__err(NX_ENOENT, "%s %s: %s is not a directory", what, path, real);
		}
		close(dfd);
		dfd = pfd;
		dst = *st;
	}
}

int
nx__file_open(const char *path, uint32_t trust, uint64_t max_bytes, const char *what,
	     struct nx_file_info *info)
{
	const struct walk_rules rules = { .trusted = trust == NX_FILE_TRUSTED, .also_uid = -1 };
	char todo[2 * PATH_MAX], real[PATH_MAX];
	const char *name = NULL;
	struct stat st, st2;
	int dfd = -1, fd, rc;

	if (path == NULL || path[0] == '\0')
		return nx__err(NX_EINVAL, "%s: no file named", what);
	if (strlen(path) >= PATH_MAX)
		return nx__err(NX_EINVAL, "%s: path longer than %d bytes", what, PATH_MAX - 1);
	rc = walk(path, &rules, what, todo, sizeof todo, real, sizeof real, &dfd, &name, &st);
	if (rc < 0)
		return rc;
	if (!S_ISREG(st.st_mode)) {
		close(dfd);
		return nx__err(NX_EINVAL, "%s %s is %s: only a regular file is read", what, path,
			       kind_name(st.st_mode));
	}
	if ((uint64_t)st.st_size > max_bytes) {
		close(dfd);
		return nx__err(NX_E2BIG, "%s %s is %lld bytes: more than %llu", what, path,
			       (long long)st.st_size, (unsigned long long)max_bytes);
	}
	if (rules.trusted && (!owner_ok(&rules, &st) || (st.st_mode & (S_IWGRP | S_IWOTH)))) {
		close(dfd);
		if (!owner_ok(&rules, &st))
			return nx__err(NX_EPERM, "%s %s belongs to uid %u, not root or uid %u", what,
				       path, (unsigned)st.st_uid, (unsigned)geteuid());
		return nx__err(NX_EPERM, "%s %s is writable by %s (mode %04o)", what, path,
			       (st.st_mode & S_IWOTH) ? "others" : "its group",
			       (unsigned)(st.st_mode & 07777));
	}
	/* for reading: without blocking, and the very file checked */
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		close(dfd);
		return nx__err_sys(e == EACCES ? NX_EPERM : NX_EIO, e, "%s %s", what, path);
	}
	close(dfd);
	if (fstat(fd, &st2) != 0 || st2.st_dev != st.st_dev || st2.st_ino != st.st_ino ||
	    !S_ISREG(st2.st_mode)) {
		close(fd);
		return nx__err(NX_EPERM, "%s %s changed while it was checked", what, path);
	}
	if (info != NULL) {
		memset(info, 0, sizeof *info);
		info->size = (uint64_t)st2.st_size;
		info->dev = (uint64_t)st2.st_dev;
		info->ino = (uint64_t)st2.st_ino;
		snprintf(info->real, sizeof info->real, "%s", real);
	}
	return fd;
}

int
nx__dir_open(const char *path, int64_t also_uid, const char *what, uint32_t *owner)
{
	const struct walk_rules rules = { .trusted = true, .also_uid = also_uid, .to_dir = true };
	char todo[2 * PATH_MAX], real[PATH_MAX];
	const char *name = NULL;
	struct stat st, st2;
	int dfd = -1, fd, rc;

	if (path == NULL || path[0] != '/')
		return nx__err(NX_EINVAL, "%s %s: not an absolute path", what, path ? path : "");
	if (strlen(path) >= PATH_MAX)
		return nx__err(NX_EINVAL, "%s: path longer than %d bytes", what, PATH_MAX - 1);
	rc = walk(path, &rules, what, todo, sizeof todo, real, sizeof real, &dfd, &name, &st);
	if (rc < 0)
		return rc;
	if (!S_ISDIR(st.st_mode)) {
		close(dfd);
		return nx__err(NX_EINVAL, "%s %s is %s, not a directory", what, path,
			       kind_name(st.st_mode));
	}
	rc = dir_check(&rules, real, &st, true, what);
	if (rc < 0) {
		close(dfd);
		return rc;
	}
	fd = openat(dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	close(dfd);
	if (fd < 0 || fstat(fd, &st2) != 0 || st2.st_dev != st.st_dev || st2.st_ino != st.st_ino) {
		if (fd >= 0)
			close(fd);
		return nx__err(NX_EPERM, "%s %s changed while it was checked", what, path);
	}
	if (owner != NULL)
		*owner = (uint32_t)st2.st_uid;
	return fd;
}

int
nx__file_read(const char *path, uint32_t trust, uint64_t max_bytes, const char *what, char **out,
	     size_t *len)
{
	struct nx_file_info info;
	size_t got = 0;
	char *buf;
	int fd;

	*out = NULL;
	*len = 0;
	fd = nx__file_open(path, trust, max_bytes, what, &info);
	if (fd < 0)
		return fd;
	if (info.size > max_bytes) { /* grew between the two looks */
		close(fd);
		return nx__err(NX_E2BIG, "%s %s grew past %llu bytes", what, path,
			       (unsigned long long)max_bytes);
	}
	buf = malloc((size_t)info.size + 1);
	if (buf == NULL) {
		close(fd);
		return nx__err(NX_ENOMEM, "%s %s", what, path);
	}
	/* a regular file: reads end (at most the size fstat said, so a file
	 * that grows meanwhile is read only that far) */
	while (got < info.size) {
		ssize_t r = read(fd, buf + got, (size_t)info.size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			free(buf);
			close(fd);
			return nx__err_sys(NX_EIO, e, "%s %s", what, path);
		}
		if (r == 0)
			break; /* shrank meanwhile */
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}
