"""The test suite; its folders mirror the packages (``tasks/data`` -> ``tests/data`` ...)."""
