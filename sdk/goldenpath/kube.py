"""Reaching a Kubernetes deployment from outside the cluster, for tools built on goldenpath.

A deployment on Kubernetes is reached either at the environment's public URL (plain HTTP(S))
or through the API server's service proxy, which answers only with the credentials of a
kubeconfig user allowed `services/proxy` in that namespace. `route(url)` finds them:

    from goldenpath.kube import route
    found = route(deployment_url)   # None: a plain URL, send the request as it is
    requests.post(f"{deployment_url}/predict", json=body, **found.requests_options())

The Jupyter extension's "Try it" proxy uses it, as d.predict() does.
"""

from goldenpath._kube import Route, is_service_proxy, route

__all__ = ["Route", "is_service_proxy", "route"]
