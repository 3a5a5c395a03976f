# SPDX-License-Identifier: Apache-2.0
# Suite setup of the ckit bats tests, run once per bats run: builds the
# fixture images (cached in $CKIT_TEST_CACHE) and pushes them to one
# docker-registry on 127.0.0.1, which teardown_suite stops by its PID.
#
# Exported for the tests:
#   REGISTRY                    127.0.0.1:<port> of that registry (plain HTTP)
#   CKIT_TEST_CACHE             fixture cache, default /var/tmp/ckit-test-cache
#   CKIT_TEST_REGISTRY_DIR      its config.yml, registry.log and storage/
#   CKIT_TEST_REGISTRY_STORAGE  its storage root (blobs under docker/registry/v2)
#   CKIT_TEST_REGISTRY_LOG      its log, with one access log line per request
#   CKIT_TEST_REGISTRY_PID      its process id

# shellcheck source=../../scripts/registry.bash
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/registry.bash"

setup_suite() {
	local top

	top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	export CKIT_TEST_CACHE=${CKIT_TEST_CACHE:-/var/tmp/ckit-test-cache}
	export CKIT_TEST_REGISTRY_DIR=$BATS_SUITE_TMPDIR/registry
	export CKIT_TEST_REGISTRY_STORAGE=$CKIT_TEST_REGISTRY_DIR/storage
	export CKIT_TEST_REGISTRY_LOG=$CKIT_TEST_REGISTRY_DIR/registry.log

	"$top/tests/bats/fixtures/build-images" build
	registry_start "$CKIT_TEST_REGISTRY_DIR"
	export CKIT_TEST_REGISTRY_PID=$REGISTRY_PID
	"$top/tests/bats/fixtures/build-images" push
}

teardown_suite() {
	registry_stop "$CKIT_TEST_REGISTRY_DIR"
}
