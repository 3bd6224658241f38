"""The planner: fit a model to a board (planner.py) and the arena layout the firmware uses (arena.py)."""
