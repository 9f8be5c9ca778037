# The Python client (python/): the C extension nexus._nexus over libnx and
# the package around it, in $(BUILD)/python/nexus/ (PYTHONPATH=$(BUILD)/python).
#
# Built for Debian's interpreter (python3-dev), not for whichever python3
# comes first in PATH: an extension loads only into the Python whose
# headers it was compiled with. PYTHON=... builds for another.
# Not built under a sanitizer: a sanitized libnx loads only into a process
# that starts with the sanitizer's runtime, which python3 does not.
PYTHON ?= /usr/bin/python3
PYTHON_CONFIG ?= $(PYTHON)-config
PY_EXT := $(shell $(PYTHON_CONFIG) --extension-suffix 2>/dev/null)
# -isystem: the warnings we build with are ours to keep, not Python.h's
PY_INC := $(patsubst -I%,-isystem %,$(shell $(PYTHON_CONFIG) --includes 2>/dev/null))
PY_VER := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
PY_OUT := $(BUILD)/python/nexus
PY_SO := $(PY_OUT)/_nexus$(PY_EXT)
PY_SRC := $(wildcard python/nexus/*.py python/nexus/*.pyi) python/nexus/py.typed
PY_COPIES := $(PY_SRC:python/nexus/%=$(PY_OUT)/%)
# Debian's directory for packages under /usr/local
PYTHON_SITE ?= $(PREFIX)/lib/python$(PY_VER)/dist-packages

.PHONY: python install-python
python: $(PY_SO) $(PY_COPIES)

ifneq ($(PY_EXT),)
ifeq ($(SAN),)
all: python
install: install-python
endif
endif

# libnx found beside the build tree's package ($ORIGIN), else where it is installed
$(PY_SO): python/nexus/_nexus.c include/nx/nx.h $(LIBNX_SO) mk/python.mk
	@mkdir -p $(PY_OUT)
	@$(if $(Q),echo "  PYEXT   $@")
	$(Q)test -n "$(PY_EXT)" || { echo "python3-config not found: install python3-dev (scripts/install-deps.sh)"; exit 1; }
	$(Q)$(CC) -std=gnu11 $(WARN) $(OPT) -fPIC -shared -fvisibility=hidden -Iinclude $(PY_INC) \
		-o $@ $< -L$(LIB) -lnx -Wl,-rpath,'$$ORIGIN/../../lib' -Wl,-rpath,$(PREFIX)/lib

$(PY_OUT)/%: python/nexus/%
	@mkdir -p $(PY_OUT)
	$(Q)cp $< $@

install-python: python
	install -d $(DESTDIR)$(PYTHON_SITE)/nexus
	install -m 0644 $(PY_COPIES) $(DESTDIR)$(PYTHON_SITE)/nexus/
	install -m 0755 $(PY_SO) $(DESTDIR)$(PYTHON_SITE)/nexus/
