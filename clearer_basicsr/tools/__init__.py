"""Command-line tools around the runtime: compare, the complexity table, the demo, the complexity
sweep. They import the runtime (archs, data, losses, models, the entry points); nothing in the
runtime imports them. None registers anything, so each can run as ``python -m``."""
