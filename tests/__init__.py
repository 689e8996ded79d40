"""The test suite: unit tests that mirror the package, campaigns apart, shared fakes in `support`."""
