"""Kept for notebooks written against goldenpath_jupyter: the widget table lives in the SDK
now (goldenpath.widgets, shown by gp.panel()), so kernels need no Jupyter extension for it."""

from goldenpath.widgets import DeploymentsTable, next_environment

__all__ = ["DeploymentsTable", "next_environment"]
