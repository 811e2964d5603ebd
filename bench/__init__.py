"""`python -m bench`: the service's benchmarks against a real stack (`make bench`).

One stack (PostgreSQL, Temporal dev server, S3, the fake provider, one worker, one API) is
started for the whole run; each figure uses its own set of jobs. Load comes from separate
processes (`bench.load`, `bench.bare`), never from the API's own process, and
the results are printed as a table and written to docs/BENCHMARKS.md.
"""
