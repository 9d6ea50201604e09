"""The server resource types (files, packages, users, services…), reached through a target's two
primitives and its batched helpers. Imports only the contract."""
