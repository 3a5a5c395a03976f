# SPDX-License-Identifier: Apache-2.0
# Checks of runtime specs against the OCI runtime spec JSON schema that
# Debian's golang-github-opencontainers-specs-dev ships.

SCHEMA=/usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema/config-schema.json

# validate_spec FILE: check FILE against the OCI runtime spec JSON schema.
validate_spec() {
	python3 - "$SCHEMA" "$1" <<'PY'
import json, sys, jsonschema, pathlib
schema_path = pathlib.Path(sys.argv[1])
schema = json.loads(schema_path.read_text())
resolver = jsonschema.RefResolver(schema_path.resolve().as_uri(), schema)
jsonschema.validate(json.loads(pathlib.Path(sys.argv[2]).read_text()),
                    schema, resolver=resolver)
PY
}

# run_cspec ARGS...: run_tool 0 cspec ARGS..., then check the spec it
# wrote (to stdout, or to the file after -o) against the schema.
run_cspec() {
	local out="" prev=""
	local a
	run_tool 0 cspec "$@"
	for a in "$@"; do
		[[ $prev == -o || $prev == --output ]] && out=$a
		prev=$a
	done
	if [[ -n $out ]]; then
		validate_spec "$out"
	else
		printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/stdout-spec.json"
		validate_spec "$BATS_TEST_TMPDIR/stdout-spec.json"
	fi
}
