# bnnfpga: `make demo` (fresh machine -> trained BNN evaluated bit-exactly) and `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip -q
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-slow system-deps bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install torch==2.13.0          # the CPU wheel; never let pip choose torch
	$(PIP) install -c constraints.txt -e '.[train,sim,dev,onnx,brevitas]'
	$(PIP) install --no-deps hls4ml==1.3.0  # only for its Apache-2.0 ap_types headers
	touch $(STAMP)

setup: $(STAMP) system-deps

# yosys (resource estimates) comes from Debian; installed when missing and we are root.
system-deps:
	@command -v yosys >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq yosys >/dev/null) || echo "note: yosys not installed (resource estimates will be skipped)"; }

demo: setup
	$(VENV)/bin/bnnfpga demo

test: setup
	$(PY) -m pytest -n 2 -q -p no:cacheprovider

test-slow: setup
	$(PY) -m pytest -n 2 -q -p no:cacheprovider -m slow

bench: setup
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) build runs out .pytest_cache
