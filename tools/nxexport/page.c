/*
 * The dashboard page, dashboard.html, in the binary: nxexport serves it
 * from memory and reads no file at run time (a sandboxed unit has none to
 * read). .incbin takes the file as it is, so the page stays an ordinary
 * HTML file to edit and check in a browser; the Makefile relinks when it
 * changes (mk/nxexport.mk).
 */
#include "nxexport.h"

__asm__(".section .rodata\n"
	".global nxexport_page\n"
	".type nxexport_page, @object\n"
	".balign 16\n"
	"nxexport_page:\n"
	".incbin \"tools/nxexport/dashboard.html\"\n"
	".global nxexport_page_end\n"
	".type nxexport_page_end, @object\n"
	"nxexport_page_end:\n"
	".byte 0\n"
	".previous\n");
