"""Tests of `oauth`."""
