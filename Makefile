# vnetd: the two commands of the README's Quick start, and a few more.
#   make run    installs what vnetd needs (Debian packages), builds, starts it on 127.0.0.1:8080, data in ./var
#   make test   installs what the tests need, runs the whole suite
#   make fuzz   builds the libFuzzer targets and runs each for FUZZ_SECONDS (default 60)
#   make install  release build, site files, systemd unit, man page and completions under
#                 $(DESTDIR)$(PREFIX) (default /usr): binary in sbin, site in share/vnetd
SHELL := /bin/bash
SWIFT ?= swift
CONFIG ?= debug
LISTEN ?= 127.0.0.1:8080
DATA_DIR ?= var
ARGS ?=
FUZZ_SECONDS ?= 60

# Debian packages: building and running vnetd, and what the test suite uses on top.
# libmicrohttpd is built with GnuTLS (HTTPS, certificates); libcrypt is libxcrypt (yescrypt password
# hashes); libxml2 reads imported network definitions; libnl-route-3 sets up the path from external
# networks' VMs to the host (traffic control over rtnetlink).
RUN_PACKAGES := pkg-config libmicrohttpd-dev libgnutls28-dev libcrypt-dev libsqlite3-dev libxml2-dev libnl-route-3-dev libnftables-dev
TEST_PACKAGES := $(RUN_PACKAGES) iproute2 iputils-ping util-linux qemu-system-x86 ipxe-qemu busybox curl openssl wrk tcpdump ethtool dhcpcd-base isc-dhcp-client chromium chromium-driver python3-selenium nftables dnsmasq-base python3-prometheus-client debhelper dpkg-dev systemd
BENCH_PACKAGES := $(RUN_PACKAGES) wrk gcc iproute2 iputils-ping iperf3 vde2 ethtool kea-admin dnsmasq-base sqlite3 curl python3 nftables dnsperf dpdk dpdk-dev

# make install: FHS places. Data lives in /var/lib/vnetd and sockets in /run/vnetd (made by the
# unit's StateDirectory/RuntimeDirectory, or by vnetd itself when started by hand).
PREFIX ?= /usr
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
SHAREDIR ?= $(PREFIX)/share
SITEDIR := $(SHAREDIR)/vnetd
MANDIR ?= $(SHAREDIR)/man
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR ?= $(SHAREDIR)/bash-completion/completions
ZSHCOMPDIR ?= $(SHAREDIR)/zsh/vendor-completions
FISHCOMPDIR ?= $(SHAREDIR)/fish/vendor_completions.d
INSTALL_BUILD := .build/install

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: run test build release deps-run deps-test deps-bench bench fuzz clean print-test-packages install install-files man deb

run: deps-run
	$(SWIFT) build -c $(CONFIG) --product vnetd
	$$($(SWIFT) build -c $(CONFIG) --show-bin-path)/vnetd --listen $(LISTEN) --data-dir $(DATA_DIR) $(ARGS)

# The integration tests run the vnetd executable itself (as an unprivileged user), so build it first.
# The soak test (256 connections for 60 s) runs alone afterwards: it measures the site, not the machine.
test: deps-test
	$(SWIFT) build --product vnetd
	$(SWIFT) test
	set -o pipefail; VNETD_SOAK=1 $(SWIFT) test --filter SoakTests 2>&1 | tee .build/soak.log
	@# A filter that matches nothing passes with 0 tests: require the one soak test to have run and passed.
	@grep -Eq 'Test run with 1 test (in [0-9]+ suites? )?passed' .build/soak.log \
	  || { echo "make test: the soak step must run and pass exactly 1 test (was SoakTests renamed?)" >&2; exit 1; }

build: deps-run
	$(SWIFT) build -c $(CONFIG)

release:
	$(MAKE) build CONFIG=release

bench: deps-bench
	bash bench/http.sh
	bash bench/scale.sh
	bash bench/switch.sh
	bash bench/uplink.sh
	bash bench/dhcp.sh

fuzz: deps-run
	bash fuzz/run $(FUZZ_SECONDS)

# The man page and completions come from the command definitions (swift-argument-parser), so
# they cannot drift from --help. The installed binary carries the Swift runtime inside it
# (--static-swift-stdlib): a Debian machine without Swift runs it. The manual comes first: its
# plugin builds every product in release mode without that flag.
STATIC_BUILD := $(SWIFT) build -c release --static-swift-stdlib --product vnetd
install: deps-run man
	$(STATIC_BUILD)
	$(MAKE) install-files BIN="$$($(SWIFT) build -c release --show-bin-path)/vnetd"

man: deps-run
	$(SWIFT) package generate-manual --configuration release --section 8 --authors "the vnetd developers" \
	  --date "$$(date -u -d @$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null || date +%s)} +%Y-%m-%d)"
	mkdir -p $(INSTALL_BUILD)
	cp .build/plugins/GenerateManual/outputs/vnetd/vnetd.8 $(INSTALL_BUILD)/vnetd.8

# The Debian package (debian/), in the folder above: ../vnetd_VERSION_ARCH.deb.
deb: deps-run
	dpkg-buildpackage -b -us -uc

# BIN: the vnetd executable to install; the manual must be made first (`make man`).
install-files:
	test -x "$(BIN)" && test -f $(INSTALL_BUILD)/vnetd.8
	for shell in bash zsh fish; do "$(BIN)" --generate-completion-script $$shell > $(INSTALL_BUILD)/vnetd.$$shell; done
	install -D -m 0755 "$(BIN)" $(DESTDIR)$(SBINDIR)/vnetd
	mkdir -p $(DESTDIR)$(SITEDIR)
	rm -rf $(DESTDIR)$(SITEDIR)/Templates $(DESTDIR)$(SITEDIR)/Public
	cp -R --no-preserve=ownership Templates Public $(DESTDIR)$(SITEDIR)/
	chmod -R u=rwX,go=rX $(DESTDIR)$(SITEDIR)
	sed 's|/usr/sbin/vnetd|$(SBINDIR)/vnetd|' dist/vnetd.service > $(INSTALL_BUILD)/vnetd.service
	install -D -m 0644 $(INSTALL_BUILD)/vnetd.service $(DESTDIR)$(SYSTEMDUNITDIR)/vnetd.service
	install -D -m 0644 $(INSTALL_BUILD)/vnetd.8 $(DESTDIR)$(MANDIR)/man8/vnetd.8
	install -D -m 0644 $(INSTALL_BUILD)/vnetd.bash $(DESTDIR)$(BASHCOMPDIR)/vnetd
	install -D -m 0644 $(INSTALL_BUILD)/vnetd.zsh $(DESTDIR)$(ZSHCOMPDIR)/_vnetd
	install -D -m 0644 $(INSTALL_BUILD)/vnetd.fish $(DESTDIR)$(FISHCOMPDIR)/vnetd.fish

deps-run:
	@$(call install,$(RUN_PACKAGES))

deps-test:
	@$(call install,$(TEST_PACKAGES))

deps-bench:
	@$(call install,$(BENCH_PACKAGES))

print-test-packages:
	@echo $(TEST_PACKAGES)

clean:
	rm -rf .build fuzz/.build

# Installs the Debian packages in $(1) that are missing; does nothing when all are there.
define install
missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -q '^install ok installed$$' || echo "$$p"; done); \
if [ -n "$$missing" ]; then \
  echo "Installing Debian packages: $$missing"; \
  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
fi
endef
