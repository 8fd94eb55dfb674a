# trailpipe — the two commands a newcomer needs are `make demo` and `make test` (see README.md).

CARGO ?= cargo
RECORDS ?= 50000

.PHONY: demo test test-unit services-start services-stop bench lint fmt deploy-check fuzz

## demo: install the build packages if missing (apt), generate records, deliver them from a file into
## demo-output/ (S3 layout), print what was delivered
demo:
	scripts/build-deps.sh
	$(CARGO) build --release --locked --bin trailpipe
	rm -rf demo-input demo-output
	mkdir -p demo-input
	./target/release/trailpipe generate --records $(RECORDS) --output demo-input/records.ndjson
	printf '%s\n' 'this line is not JSON' '{"eventID":"no-time"}' >> demo-input/records.ndjson
	./target/release/trailpipe run --config config/demo.toml
	@echo
	@echo "First record of one delivered log file:"
	@f=$$(find demo-output/audit-logs -name '*.json.gz' | sort | head -1); echo "$$f"; \
	  gzip -dc "$$f" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["Records"][0], indent=1)[:1500])'

## test: install the build packages and the test servers if missing (apt packages, tansu, moto, aws CLI),
## start them on loopback, run every test, stop them
test:
	scripts/test-deps.sh
	scripts/services.sh start
	. .test-services/env && export TRAILPIPE_REQUIRE_SERVICES=1 DEPLOY_CHECK_STRICT=1 && \
	  if $(CARGO) nextest --version >/dev/null 2>&1; then \
	    $(CARGO) nextest run --workspace --locked --no-fail-fast; \
	  else \
	    $(CARGO) test --workspace --locked --no-fail-fast; \
	  fi; rc=$$?; scripts/services.sh stop; exit $$rc

## test-unit: the tests that need no servers (integration tests skip themselves)
test-unit:
	scripts/build-deps.sh
	$(CARGO) nextest run --workspace --locked

services-start:
	scripts/test-deps.sh
	scripts/services.sh start

services-stop:
	scripts/services.sh stop

## bench: drive generated records through the daemon from the broker into the local store and moto S3
## (scripts/test-deps.sh installs the build packages first, through scripts/build-deps.sh)
bench:
	scripts/test-deps.sh
	scripts/services.sh start
	. .test-services/env && scripts/bench.sh; rc=$$?; scripts/services.sh stop; exit $$rc

## deploy-check: systemd-analyze verify, kubectl kustomize and offline schema validation of deploy/
deploy-check:
	scripts/build-deps.sh
	$(CARGO) build --locked --bin trailpipe
	scripts/deploy-check.sh target/debug/trailpipe

## lint: rustfmt check and clippy -D warnings (clippy compiles librdkafka: build packages first)
lint:
	scripts/build-deps.sh
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all

## fuzz: build the fuzz targets of fuzz/ (cargo-fuzz, installed if missing) and run each for FUZZ_SECONDS
## (default 60) on a copy of its corpus; fails if any target crashed (see scripts/fuzz.sh)
fuzz:
	scripts/fuzz.sh
