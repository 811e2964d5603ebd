"""The dev/test stack (`tests/stack`) under test: health, isolation, supervision, persistence."""
