"""The daemon: the main loop that plans, claims, dispatches and concludes runs, and its start-up, signals and health."""
