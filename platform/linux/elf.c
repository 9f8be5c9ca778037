/*
 * Reading a shared object's ELF sections without loading it (libelf):
 * dlopen runs a library's constructors before anyone can look at it, so
 * what a plugin must prove is read from the file first.
 */
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <string.h>

#include "../nx_platform.h"

#if defined(__x86_64__)
#define NX_ELF_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define NX_ELF_MACHINE EM_AARCH64
#elif defined(__i386__)
#define NX_ELF_MACHINE EM_386
#else
#error "nexus: name this machine's ELF e_machine in platform/linux/elf.c"
#endif

#if UINTPTR_MAX > 0xffffffffu
#define NX_ELF_CLASS ELFCLASS64
#else
#define NX_ELF_CLASS ELFCLASS32
#endif

int
nx__elf_section(int fd, const char *section, void *buf, size_t cap, size_t *len)
{
	Elf_Scn *scn = NULL;
	GElf_Ehdr eh;
	size_t shstrndx;
	Elf *e;
	int rc = NX_ENOENT;

	*len = 0;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return nx__err(NX_EIO, "libelf: %s", elf_errmsg(-1));
	/* ELF_C_READ reads through the descriptor: nothing is mapped that a
	 * truncation could turn into SIGBUS */
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (e == NULL)
		return nx__err(NX_EINVAL, "not an ELF file: %s", elf_errmsg(-1));
	if (elf_kind(e) != ELF_K_ELF) {
		rc = nx__err(NX_EINVAL, "not an ELF file");
		goto out;
	}
	if (gelf_getehdr(e, &eh) == NULL || gelf_getclass(e) != NX_ELF_CLASS) {
		rc = nx__err(NX_EINVAL, "not an ELF object of this machine's class");
		goto out;
	}
	if (eh.e_type != ET_DYN || eh.e_machine != NX_ELF_MACHINE) {
		rc = nx__err(NX_EINVAL, "not a shared object for this machine (ELF type %u, "
			     "machine %u)", (unsigned)eh.e_type, (unsigned)eh.e_machine);
		goto out;
	}
	if (elf_getshdrstrndx(e, &shstrndx) != 0) {
		rc = nx__err(NX_EINVAL, "no section names: %s", elf_errmsg(-1));
		goto out;
	}
	while ((scn = elf_nextscn(e, scn)) != NULL) {
		GElf_Shdr sh;
		const char *name;
		Elf_Data *d;

		if (gelf_getshdr(scn, &sh) == NULL)
			break;
		name = elf_strptr(e, shstrndx, sh.sh_name);
		if (name == NULL || strcmp(name, section) != 0)
			continue;
		if (sh.sh_type == SHT_NOBITS) {
			rc = nx__err(NX_EINVAL, "section %s holds no bytes", section);
			goto out;
		}
		d = elf_getdata(scn, NULL);
		if (d == NULL || d->d_buf == NULL) {
			rc = nx__err(NX_EINVAL, "section %s cannot be read: %s", section,
				     elf_errmsg(-1));
			goto out;
		}
		*len = d->d_size;
		memcpy(buf, d->d_buf, d->d_size < cap ? d->d_size : cap);
		rc = 0;
		goto out;
	}
	rc = nx__err(NX_ENOENT, "no section %s", section);
out:
	elf_end(e);
	return rc;
}
