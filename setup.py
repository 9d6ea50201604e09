"""Packages are discovered, never listed by hand: `reconciler` and its sub-packages, and the repository's
`modules/` folder installed as `reconcile_modules` (never a top-level `modules`). Everything else is in
setup.cfg."""

from setuptools import find_packages, setup

ENGINE = find_packages(include=["reconciler", "reconciler.*"])
MODULES = ["reconcile_modules"] + [f"reconcile_modules.{p}" for p in find_packages(where="modules")]

setup(
    packages=ENGINE + MODULES,
    package_dir={"reconcile_modules": "modules"},
    # every package's data files (schemas beside their modules, page assets) go with it
    package_data={package: ["*.json", "*.css", "*.js", "*.html", "py.typed"] for package in ENGINE + MODULES},
)
