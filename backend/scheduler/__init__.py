"""The in-process scheduler: a job wrapper every job runs through, jobs, and the leader lock."""
