"""Tests of `apps`."""
