# vnetd: the two commands of the README's Quick start, and a few more.
#   make run    installs what vnetd needs (Debian packages), builds, starts it on 127.0.0.1:8080, data in ./var
#   make test   installs what the tests need, runs the whole suite
#   make fuzz   builds the libFuzzer targets and runs each for FUZZ_SECONDS (default 60)
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
TEST_PACKAGES := $(RUN_PACKAGES) iproute2 iputils-ping util-linux qemu-system-x86 ipxe-qemu busybox curl openssl wrk tcpdump ethtool dhcpcd-base isc-dhcp-client chromium chromium-driver python3-selenium nftables dnsmasq-base
BENCH_PACKAGES := $(RUN_PACKAGES) wrk gcc iproute2 iputils-ping iperf3 vde2 ethtool kea-admin dnsmasq-base sqlite3 curl python3 nftables dnsperf dpdk dpdk-dev

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: run test build release deps-run deps-test deps-bench bench fuzz clean print-test-packages

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
