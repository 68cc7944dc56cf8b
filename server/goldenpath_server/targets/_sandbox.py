"""The sandbox of every local serving process: model code gets nothing of the platform.

A bundle is untrusted code: its pickle runs whatever its author wrote, in the serving
process. That process gets, in layers:

1. **An explicit environment** built here, never the server's: PATH, locale and thread
   settings, plus the variables the environment's config grants by name (`serving_env:`).
   No token, database URL, config path or credential reaches it by accident.
2. **A view of the machine** (bubblewrap, when the machine has it): the system (/usr, /etc),
   the Python it runs on and the bundles, read-only; its own logs and metrics folders. Not
   the server's home, config, database or kubeconfig, nor anyone's home folder.
3. **A jail per process** (`_warm_worker.isolate`, in the serving process before the model
   loads): a mount namespace of its own in which the server's home and files are hidden and
   only its own bundle is mounted back, a private /tmp, then an unprivileged uid of its own
   (when the server runs as root) or no capabilities at all (rootless, in a user
   namespace), never dumpable (other processes cannot read its memory or environment).

Where the machine lacks bubblewrap, the server says so at start and in every rollout (the
level is in the deployment's state): as root, layer 3 still holds (mount namespace and uid);
rootless, only layer 1 does. `GOLDENPATH_SANDBOX=bubblewrap` refuses to run without it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import site
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("goldenpath.sandbox")

# Each serving process gets uid UID_BASE + its port (unique among live serving processes):
# far above any real account, so it owns nothing on the machine.
UID_BASE = 1_000_000_000
# What a serving process may inherit from the server: how to find programs and libraries,
# locale and time zone, and thread/BLAS tuning. Never credentials.
INHERITED = ("PATH", "LANG", "LANGUAGE", "TZ", "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES",
             "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "NUMEXPR_MAX_THREADS")
INHERITED_PREFIXES = ("LC_",)
LEVELS = ("bubblewrap", "namespaces", "none")


class SandboxUnavailable(Exception):
    """The configured sandbox cannot run on this machine; the message says how to fix it."""


@dataclass(frozen=True)
class Sandbox:
    """How this machine isolates serving processes, and the pieces to do it."""

    level: str  # bubblewrap | namespaces | none
    rootless: bool  # the server is not root: no uid switch, a user namespace instead
    home: Path  # the server's state folder: hidden from every serving process
    hidden: tuple[Path, ...] = ()  # other server files to hide (config, database, kubeconfig)
    bwrap: str = ""
    warning: str = ""  # why this is weaker than bubblewrap, and what to do ("" when it is not)
    extra_ro: tuple[Path, ...] = field(default=())  # more read-only paths (the worker script)

    @classmethod
    def detect(cls, mode: str, home: Path, hidden: list[Path] | None = None,
               extra_ro: list[Path] | None = None) -> Sandbox:
        """The strongest sandbox this machine offers (`mode`: auto | bubblewrap | off)."""
        rootless = os.geteuid() != 0
        parts = {"rootless": rootless, "home": home.resolve(),
                 "hidden": tuple(sorted({p.resolve() for p in hidden or []})),
                 "extra_ro": tuple(p.resolve() for p in extra_ro or [])}
        if mode == "off":
            return cls(level="none", warning="GOLDENPATH_SANDBOX=off: serving processes run "
                       "with a minimal environment but can read whatever the server's user "
                       "can; unset it to isolate them", **parts)  # type: ignore[arg-type]
        bwrap = shutil.which("bwrap") or ""
        problem = _bwrap_problem(bwrap, rootless) if bwrap else "bubblewrap is not installed"
        if not problem:
            return cls(level="bubblewrap", bwrap=bwrap, **parts)  # type: ignore[arg-type]
        fix = "install it (apt-get install bubblewrap) and restart the server"
        if mode == "bubblewrap":
            raise SandboxUnavailable(f"GOLDENPATH_SANDBOX=bubblewrap but {problem}; {fix}")
        if not rootless:
            return cls(level="namespaces", warning=(
                f"{problem}: serving processes get a mount namespace that hides the "
                "server's files and a uid of their own, but see the rest of the machine; "
                + fix), **parts)  # type: ignore[arg-type]
        return cls(level="none", warning=(
            f"{problem}, and the server is not root: serving processes run as the server's "
            "user with a minimal environment and CAN READ the server's files; " + fix),
            **parts)  # type: ignore[arg-type]

    def announce(self) -> None:
        """Say once, loudly, when serving processes are less isolated than they could be."""
        if self.warning:
            log.warning("sandbox: %s", self.warning)
        else:
            log.info("sandbox: serving processes run under bubblewrap%s",
                     " in a user namespace" if self.rootless else ", each as a uid of its own")

    def describe(self) -> str:
        """One line for rollout progress and the deployment's state."""
        if self.level == "bubblewrap":
            return "bubblewrap" + (" (rootless)" if self.rootless else ", own uid")
        return f"{self.level}: {self.warning}"

    # -- what the serving processes get ----------------------------------------------
    def environment(self, granted: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of a serving process (or the zygote): built, never inherited."""
        env = {k: v for k, v in os.environ.items()
               if k in INHERITED or k.startswith(INHERITED_PREFIXES)}
        env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
        env.update({"HOME": "/tmp", "TMPDIR": "/tmp", "BENTOML_HOME": "/tmp/bentoml",
                    "BENTOML_DO_NOT_TRACK": "True", "PYTHONDONTWRITEBYTECODE": "1"})
        env.update(granted or {})
        return env

    def jail(self) -> str:
        """The JSON the worker's `isolate` reads: what to hide, what to mount back
        (the Python prefixes, where a folder above them is closed to other uids, such as a
        pyenv under /root), how to drop privileges."""
        python = sorted(str(p) for p in _python_paths())
        closed = sorted({a for p in python for a in _ancestors(p) if not _crossable(a)})
        hide = [str(self.home), *(str(p) for p in self.hidden), *closed]
        # the jail puts a fresh tmpfs on /tmp and on every hidden folder: a Python that
        # lives below one (a venv in /tmp, a pyenv under /root) is mounted back
        covered = [*hide, "/tmp"]
        return json.dumps({"level": self.level, "rootless": self.rootless, "hide": hide,
                           "keep": [p for p in python if any(p.startswith(c.rstrip("/") + "/")
                                                             for c in covered)],
                           "uid_base": UID_BASE})

    def wrap(self, argv: list[str], writable: list[Path]) -> list[str]:
        """`argv` run inside the machine view (bubblewrap), or as it is below that level.

        The view holds the system, the Python prefixes, the bundles (read-only) and
        `writable` (logs, metrics): nothing else of the server's home."""
        if self.level != "bubblewrap":
            return argv
        args = [self.bwrap, "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/run"]
        for path in _system_paths():
            args += _bind_ro(path)
        unpacked = self.home / "artifacts" / "unpacked"
        mounted = sorted({*_python_paths(), *self.extra_ro})
        # the folders above what is mounted, crossable by the serving uids (bubblewrap would
        # make them 0700)
        for folder in sorted({a for p in [*mounted, unpacked, *writable]
                              for a in _ancestors(str(p))}, key=lambda a: a.count("/")):
            if not any(folder == str(s) or folder.startswith(f"{s}/")
                       for s in (*_system_paths(), Path("/tmp"), Path("/proc"), Path("/dev"))):
                args += ["--perms", "0755", "--dir", folder]
        for path in mounted:
            args += _bind_ro(path)
        args += ["--ro-bind", str(unpacked), str(unpacked)]
        for path in writable:
            path.mkdir(parents=True, exist_ok=True)
            args += ["--bind", str(path), str(path)]
        for path in self.hidden:  # inside a bound folder (a config in /etc): blanked
            if path.is_file():
                args += ["--ro-bind-try", "/dev/null", str(path)]
        for device in ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia0", "/dev/dri"):
            if os.path.exists(device):  # GPU bundles (bentoml serve) see the GPU
                args += ["--dev-bind", device, device]
        if self.rootless:  # capabilities exist only inside the user namespace
            args += ["--unshare-user", "--uid", "0", "--gid", "0", "--cap-add", "ALL"]
        else:  # what `isolate` needs to build each process's jail, nothing else
            for cap in ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_CHOWN"):
                args += ["--cap-add", cap]
        return [*args, "--chdir", "/tmp", "--", *argv]


def serving_uid(port: int) -> int:
    """The uid a serving process on `port` runs as when the server is root."""
    return UID_BASE + port


def _bind_ro(path: Path) -> list[str]:
    if path.is_symlink():  # /bin -> usr/bin on merged-/usr systems
        return ["--symlink", os.readlink(path), str(path)]
    return ["--ro-bind", str(path), str(path)] if path.exists() else []


def _ancestors(path: str) -> list[str]:
    """The folders above `path`, outermost first, without "/"."""
    parts = Path(path).parts[1:-1]
    return ["/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _crossable(folder: str) -> bool:
    """May any uid pass through `folder` (o+x)?"""
    try:
        return bool(os.stat(folder).st_mode & 0o001)
    except OSError:
        return False


def _system_paths() -> list[Path]:
    return [Path(p) for p in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
                              "/etc") if os.path.lexists(p)]


def _python_paths() -> set[Path]:
    """The interpreter and the packages the serving processes import (read-only)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable)), *site.getsitepackages()}
    user_site = site.getusersitepackages()
    if isinstance(user_site, str) and os.path.isdir(user_site):
        paths.add(user_site)
    found: set[Path] = set()
    for p in paths:
        for variant in (Path(p), Path(os.path.realpath(p))):
            if variant.exists() and not any(str(variant).startswith(s + "/")
                                            for s in ("/usr", "/etc")):
                found.add(variant)
    return found


def _bwrap_problem(bwrap: str, rootless: bool) -> str:
    """Why bubblewrap cannot build our sandbox here ("" when it can)."""
    probe = [bwrap, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs",
             "/tmp"]
    probe += (["--unshare-user", "--uid", "0", "--gid", "0", "--cap-add", "ALL"] if rootless
              else ["--cap-add", "CAP_SYS_ADMIN"])
    try:
        done = subprocess.run([*probe, "true"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap ({bwrap}) could not run: {exc}"
    if done.returncode != 0:
        return f"bubblewrap ({bwrap}) cannot create namespaces here: {done.stderr.strip()}"
    return ""


__all__ = ["LEVELS", "Sandbox", "SandboxUnavailable", "serving_uid"]
