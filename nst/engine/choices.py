"""The engine's named choices, which the options (config.py) offer."""

LOSS_CONVENTIONS = ("paper", "authors")  # see losses.py
# "unit_first": try L-BFGS's natural step, then Hager-Zhang (lbfgs.py);
# "hager_zhang": exactly tfp.optimizer.lbfgs_minimize (about 3 evaluations an iteration).
LINE_SEARCHES = ("unit_first", "hager_zhang")
