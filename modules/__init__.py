"""The built-in resource modules, one class per type, each with its JSON Schema beside it.

Installed as `reconcile_modules` and found through the `reconcile.modules` entry points (setup.cfg),
exactly as a third-party plugin's types are.
"""
