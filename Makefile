# SPDX-License-Identifier: Apache-2.0
# Builds lib/common as one static library and links every tool against it.
# `make check` and `make demo` install the Debian packages they need first.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
PKG_CONFIG ?= pkg-config
CC ?= cc

TOOLS := cpull cunpack cspec crun-task cplatform csnapshot cpush ccontainer
MODULES := libcurl nettle jansson libarchive libzstd libseccomp libcap libisal zlib

CFLAGS ?= -O2 -g
CFLAGS += -Wall -Wextra -std=gnu11 -D_FILE_OFFSET_BITS=64
# Each tool loads only the shared libraries it calls: fewer to map and
# relocate at every start.
LDFLAGS += -Wl,--as-needed
ifeq ($(SANITIZE),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

# Stop with the module's name when a -dev package is missing. check, demo
# and deps install the packages first and then build in a sub-make.
ifeq ($(filter clean deps check demo uninstall,$(MAKECMDGOALS)),)
$(foreach m,$(MODULES),$(if $(shell $(PKG_CONFIG) --exists $(m) && echo y),,\
  $(error pkg-config module '$(m)' not found; run scripts/install-deps)))
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(MODULES))
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(MODULES))
endif

CPPFLAGS += -Ilib/common $(PKG_CFLAGS)

LIB_SRC := $(wildcard lib/common/*.c)
LIB_OBJ := $(LIB_SRC:.c=.o)
LIB := lib/common/libckit.a

TOOL_BINS := $(foreach t,$(TOOLS),tools/$(t)/$(t))
UNIT_SRC := $(wildcard tests/unit/*.c)
UNIT_BINS := $(UNIT_SRC:.c=)

.PHONY: all check unit demo install uninstall clean deps

all: $(TOOL_BINS)

%.o: %.c $(wildcard lib/common/*.h) $(wildcard tools/*/*.h)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)$(AR) rcs $@ $^

define tool_rule
tools/$(1)/$(1): $(patsubst %.c,%.o,$(wildcard tools/$(1)/*.c)) $(LIB)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$(filter %.o,$$^) $(LIB) $$(PKG_LIBS)
endef
$(foreach t,$(TOOLS),$(eval $(call tool_rule,$(t))))

tests/unit/%: tests/unit/%.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(PKG_LIBS)

deps:
	scripts/install-deps

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "  UNIT    $$t"; $$t; done

check: deps
	$(MAKE) all unit
	bats --timing tests/bats

demo: deps
	$(MAKE) all
	scripts/demo

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(BASHCOMPDIR) \
		$(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 755 $(TOOL_BINS) $(DESTDIR)$(BINDIR)
	for t in $(TOOLS); do \
		install -m 644 completions/bash/$$t $(DESTDIR)$(BASHCOMPDIR)/$$t; \
		install -m 644 completions/zsh/_$$t $(DESTDIR)$(ZSHCOMPDIR)/_$$t; \
	done
	for m in docs/man/*.1; do \
		[ -e "$$m" ] && install -m 644 $$m $(DESTDIR)$(MANDIR)/man1; \
	done; true

uninstall:
	for t in $(TOOLS); do \
		rm -f $(DESTDIR)$(BINDIR)/$$t $(DESTDIR)$(BASHCOMPDIR)/$$t \
		      $(DESTDIR)$(ZSHCOMPDIR)/_$$t $(DESTDIR)$(MANDIR)/man1/$$t.1; \
	done

clean:
	rm -f lib/common/*.o $(LIB) tools/*/*.o $(TOOL_BINS) \
		tests/unit/*.o $(UNIT_BINS)
