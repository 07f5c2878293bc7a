"""Helpers shared by the tests, imported explicitly (``from tests.support.homes import ...``)."""
