"""Tests of `campaigns`."""
