"""`reconcile test`: a spec's own test cases (PATH/tests/*.yaml), Molecule's discipline: converge throwaway
containers standing in for the inventory hosts, require an empty second plan, run the assertions, tear
down and report leftovers. May import the engine, the spec and the targets; not the CLI."""
