"""Maintainer tools that stay out of the wheel: the bundle build, the generated docs, the release checks.

Run them from the repository root as modules, e.g. `python -m scripts.catalog`.
"""
