"""The dev/test stack (`devstack`) under test: health, isolation, supervision, persistence."""
