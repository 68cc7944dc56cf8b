"""goldenpath: `gp.deploy(model, name=..., sample=X[:5])` on the embedded default.

Nothing is running when the clock starts: the first deploy starts the local promotion
server itself (the SDK's autostart path, as in a fresh notebook). The only difference from
a user's notebook is where: GOLDENPATH_SERVER + GOLDENPATH_AUTOSTART=1 + GOLDENPATH_HOME put
the autostarted server on a free port and a fresh state folder (instead of 8731 and
~/.goldenpath) so it never meets a server someone else left running.

    notebook: time to first good prediction, then redeploy of a changed model
    serve:    deploy and print the endpoint (serving benchmark); the server keeps running
"""

from __future__ import annotations

import os

from _nb import Clock, args, emit, one_row, predict_until, train


def server_pid(port: int) -> int | None:
    import psutil

    for conn in psutil.net_connections("tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return int(conn.pid)
    return None


def main() -> None:
    a = args()
    os.environ.update(
        GOLDENPATH_SERVER=f"http://127.0.0.1:{a.port}",
        GOLDENPATH_AUTOSTART="1",
        GOLDENPATH_HOME=str(a.workdir / ".goldenpath"),
        BENTOML_HOME=str(a.workdir / "bentoml"),
    )
    a.workdir.mkdir(parents=True, exist_ok=True)
    model, X = train(a.model)
    row = one_row(X)
    sample = X[:5]

    if a.mode == "bundle":
        import tarfile

        import cloudpickle

        from goldenpath._bundle import build_bundle  # the packaging step of gp.deploy

        bundle = build_bundle(model, a.name, sample, a.workdir)
        with tarfile.open(bundle.archive) as tar:
            members = sorted(
                ((m.size, m.name) for m in tar.getmembers() if m.isfile()), reverse=True
            )
        emit(
            {
                "bundle_bytes": bundle.archive.stat().st_size,
                "model_bytes": len(cloudpickle.dumps(model)),
                "members_unpacked_bytes": sum(s for s, _ in members),
                "largest_members": members[:8],
                "n_members": len(members),
                "what": "the exported .bento archive gp.deploy uploads",
            }
        )
        return
    if a.mode == "serve":
        import goldenpath as gp

        d = gp.deploy(model, name=a.name, sample=sample, quiet=True)
        predict_until(f"{d.url}/predict", row, model.predict(row).tolist())
        emit(
            {
                "url": f"{d.url}/predict",
                "server_pid": server_pid(a.port),
                "backend_port": d.status().get("target_state", {}).get("port"),
            }
        )
        return
    changed, _ = train(a.model, variant=1)
    expected, expected2 = model.predict(row).tolist(), changed.predict(row).tolist()

    clock = Clock()
    import goldenpath as gp

    d = gp.deploy(model, name=a.name, sample=sample, quiet=True)
    clock.lap("deploy_returned")
    predict_until(f"{d.url}/predict", row, expected)
    first = clock.lap("first_prediction")

    clock2 = Clock()
    d = gp.deploy(changed, name=a.name, sample=sample, quiet=True)
    clock2.lap("deploy_returned")
    predict_until(f"{d.url}/predict", row, expected2)
    redeploy = clock2.lap("first_prediction")
    emit(
        {
            "first_prediction_s": first,
            "redeploy_s": redeploy,
            "laps": clock.laps,
            "redeploy_laps": clock2.laps,
            "server_pid": server_pid(a.port),
        }
    )


if __name__ == "__main__":
    main()
