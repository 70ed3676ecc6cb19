"""The test suite: unit/<package>/, cli/, e2e/, realdata/ and docs/ (see tests/support.py for the helpers)."""
