"""Use cases: what the engine does, called by flows, tasks, web handlers and the CLI.

Each takes a session (or a session factory) and the time; none imports Prefect or FastAPI.
"""
