"""A suite end to end: its runs, the executors that run them, the tuning protocol and the progress display."""
