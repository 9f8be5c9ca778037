# nxexport (tools/nxexport/): the metrics endpoint and dashboard, on
# libmicrohttpd; the dashboard page is embedded with .incbin (page.c), so
# its object depends on the page; make install adds its systemd unit.
PKG_HTTP := libmicrohttpd
TOOL_LIBS_nxexport := $(shell pkg-config --libs $(PKG_HTTP) 2>/dev/null) -lpthread
$(OBJ)/tools/nxexport/%.o: CFLAGS_ALL += $(shell pkg-config --cflags $(PKG_HTTP) 2>/dev/null)
$(OBJ)/tools/nxexport/page.o: tools/nxexport/dashboard.html

.PHONY: install-nxexport
install: install-nxexport
install-nxexport: all
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 0644 systemd/nxexport@.service $(DESTDIR)$(PREFIX)/lib/systemd/system/
