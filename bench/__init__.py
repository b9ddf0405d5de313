"""The performance benchmark (`make bench`): seed a large database, load the pages, time the
report, the upload and the audit verification. See docs/benchmarks.md."""
