"""A recording fake module and an in-memory fake target, for unit tests of the engine's stages."""
