# The two commands a newcomer needs: `make demo` and `make test`. Everything installs itself.
.PHONY: demo test stop cluster cluster-down bench lint

demo:          ## install, start the server on the embedded default, deploy the quickstart model
	scripts/setup.sh
	scripts/demo.sh

test:          ## install everything and run every test (pytest + nbval + extension)
	scripts/test.sh

stop:          ## stop the demo server and its model processes
	scripts/stop.sh

cluster:       ## build (once, cached) and start a real Kubernetes control plane on loopback
	scripts/cluster/build.sh
	scripts/cluster/up.sh
	scripts/cluster/goldenpath-env.sh

cluster-down:
	scripts/cluster/down.sh

bench:         ## benchmarks vs BentoML and MLflow; rewrites docs/benchmarks.md (~15 min)
	bench/run_all.sh

lint:          ## ruff and mypy over every package (CI runs both)
	.venv/bin/ruff check sdk server serving tests bench
	.venv/bin/mypy $(MYPY_PATHS)

MYPY_PATHS = sdk/goldenpath sdk/goldenpath_api server/goldenpath_server serving/goldenpath_serving \
	serving/goldenpath_router jupyter_ext/goldenpath_jupyter
