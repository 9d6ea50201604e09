"""A simulated target family for the scale benchmark (bench/scale_sim.py): never installed, never used by
a spec outside the benchmark."""
