"""selfif: self-supervised RL for multi-constraint instruction following."""

__version__ = "0.1.0"
