"""Tests of `confirm`."""
