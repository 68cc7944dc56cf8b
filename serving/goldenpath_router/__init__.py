"""goldenpath_router — per-request routing between a service's stable and candidate
releases for progressive delivery (canary weights, shadow copies, both answers compared),
measuring each variant's answers.

    Router, Split   the routers of the local target (in the promotion server's process)
    python -m goldenpath_router --config FILE
                    the same router as a pod of its own (the Kubernetes target's
                    NAME-router, where no mesh or Gateway splits requests): _pod.py
    Window          a window of measurements; raw() travels, merge() adds, summary() reads

Only the standard library: it runs on the serving runtime's image beside goldenpath_serving,
and is not copied into bundles.
"""

from goldenpath_router._metrics import Window
from goldenpath_router._proxy import Router, Split

__all__ = ["Router", "Split", "Window"]
