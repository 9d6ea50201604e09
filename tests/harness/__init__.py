"""Real services for the tests: a Docker engine, test images, a registry. Started on demand, shared by
pytest-xdist workers through a file lock, stopped at the end of the run if this run started them."""
