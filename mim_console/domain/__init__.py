"""Pure domain logic: no I/O, no database, no textual; every function depends on its inputs only."""
