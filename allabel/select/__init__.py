"""ALLabel selection. ``strategies.py`` turns a strategy and a budget into a plan of stages
(``budget.py`` does the accounting, ``variants.py`` the ``+long``/``+total``/``+entities`` options); ``stages/``
holds one file per stage — diversity (stage 1), similarity (stage 2), uncertainty (stage 3), and
the baselines' random and full — each an object with ``pick(context, n)`` found through the
registry in ``stages/__init__.py``; ``run.py`` plans, picks and records everything in Postgres."""
