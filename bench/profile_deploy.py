"""Where gp.deploy spends its time: the same steps gp.deploy runs, each timed on its own.

Runs in the product venv against a promotion server it starts (first deploy, then a
redeploy of a changed model). Prints a table and writes bench/results/deploy_phases.json.
For a sampled profile of every process involved, run it under py-spy:

    bench/.venv-peers/bin/py-spy record --subprocesses --idle -f speedscope \
        -o bench/results/profiles/deploy.speedscope.json -- .venv/bin/python bench/profile_deploy.py
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    PRODUCT_PY,
    free_port,
    get_json,
    kill_tree,
    log,
    poll_until,
    post_json,
    pyspy_start,
    summarize_profile,
    table,
    write_result,
)
from _models import one_row, train  # noqa: E402


def profile_by_process(path: Path, top: int = 12) -> dict[str, list[tuple[str, float]]]:
    """Split py-spy's collapsed stacks by the process that ran them (the innermost
    "process PID:cmdline" frame); top inclusive Python frames of each, runtime glue hidden."""
    per: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        frames = line.rpartition(" ")[0].split(";")
        count = line.rpartition(" ")[2]
        procs = [i for i, f in enumerate(frames) if f.startswith("process ")]
        if not procs or not count.isdigit():
            continue
        cmd = frames[procs[-1]].split(":", 1)[1].strip('"')
        words = cmd.split()
        is_module = len(words) > 2 and words[1] == "-m"
        label = " ".join(words[1:3]) if is_module else " ".join(words[1:2])
        if not label:  # py-spy could not read the cmdline: name it by its first Python frame
            first = next(
                (f for f in frames[procs[-1] + 1 :] if "(" in f and "<frozen" not in f), "?"
            )
            label = "(cmdline unreadable) " + first.partition(" (")[2].rstrip(")").split(":")[0]
        per.setdefault(label, []).append(";".join(frames[procs[-1] + 1 :]) + f" {count}")
    out = {}
    tmp = path.with_suffix(".one")
    glue = ("<frozen", "threading.py", "runpy", "_call_with_frames_removed")
    for label, lines in sorted(per.items(), key=lambda kv: -len(kv[1])):
        kept = [
            ";".join(f for f in ln.rpartition(" ")[0].split(";") if not any(g in f for g in glue))
            + " "
            + ln.rpartition(" ")[2]
            for ln in lines
        ]
        tmp.write_text("\n".join(k for k in kept if not k.startswith(" ")) + "\n")
        samples = sum(int(x.rpartition(" ")[2]) for x in lines)
        out[f"{label} [{samples} thread samples at 200 Hz]"] = summarize_profile(tmp, top)
    tmp.unlink(missing_ok=True)
    return out


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="gp-phases-"))
    os.environ.update(BENTOML_HOME=str(work / "bentoml"), BENTOML_DO_NOT_TRACK="True")
    port = free_port()
    server = subprocess.Popen(
        [
            str(PRODUCT_PY),
            "-m",
            "goldenpath",
            "server",
            "--port",
            str(port),
            "--home",
            str(work / "home"),
        ],
        stdout=open(work / "server.log", "wb"),
        stderr=subprocess.STDOUT,
    )
    rows, phases_all = [], {}
    try:
        t = time.perf_counter()
        import goldenpath as gp
        from goldenpath._bundle import build_bundle
        from goldenpath._deploy import client

        t_import = time.perf_counter() - t
        poll_until(lambda: get_json(f"http://127.0.0.1:{port}/healthz"), timeout=60)
        gp.configure(server=f"http://127.0.0.1:{port}")
        c = client()
        for label, variant in (
            ("first deploy (server up)", 0),
            ("redeploy", 1),
            ("profiled redeploy", 0),
        ):
            model, X = train("lr", variant)
            row = one_row(X)
            phases: dict[str, float] = {}
            spy = None
            if label.startswith("profiled"):  # sample every process involved (not tabled)
                if "--no-profile" in sys.argv:
                    break
                spy, spy_out = pyspy_start(os.getpid(), "deploy-redeploy", 60, subprocesses=True)
            t0 = time.perf_counter()

            def lap(name: str, since: list[float] = [t0], into: dict = phases) -> None:  # noqa: B006
                now = time.perf_counter()
                into[name] = round(now - since[0], 3)
                since[0] = now

            bundle = build_bundle(model, "phases", X[:5], Path(tempfile.mkdtemp(dir=work)))
            lap("package (models.create + bentos.build + export)")
            release = c.upload("phases", bundle.archive)
            lap("upload + server ingest (unpack, scan)")
            after = c.last_seq("phases")
            c.deploy(release["id"], "dev")
            info = c.wait("phases", "dev", after=after)
            lap("deploy -> live (sandboxed warm worker, runtime + server parity, readyz)")
            url, body = f"{info.url}/predict", {"inputs": row}
            poll_until(lambda u=url, b=body: post_json(u, b))
            lap("first prediction")
            phases["total"] = round(time.perf_counter() - t0, 3)
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
                spy.wait(timeout=60)
                phases_all["profile"] = {
                    "file": str(spy_out),
                    "by_process": profile_by_process(spy_out),
                }
            events = c.events("phases", after)
            starts = [e for e in events if "starting bentoml serve" in e["message"]]
            phases_all[label] = {"phases": phases, "events": events[-6:], "starts": starts}
            if spy is not None:
                continue
            for name, secs in phases.items():
                rows.append([label, name, secs, f"{100 * secs / phases['total']:.0f}%"])
        rows.insert(0, ["(notebook)", "import goldenpath", round(t_import, 3), ""])
    finally:
        kill_tree(server.pid)
        shutil.rmtree(work, ignore_errors=True)
    print(table(["deploy", "phase", "seconds", "share"], rows))
    for proc_name, frames in phases_all.get("profile", {}).get("by_process", {}).items():
        print(f"py-spy, redeploy, {proc_name}:")
        for frame, pct in frames:
            print(f"  {pct:5.1f}%  {frame}")
    path = write_result("deploy_phases", {"rows": rows, "detail": phases_all})
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
