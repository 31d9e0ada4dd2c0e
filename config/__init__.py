"""Configuration, the bottom layer: settings from ILP_* variables and per-school files."""
