"""The pure ILP rules: calendar arithmetic, the planner and the escalation policy. No I/O."""
