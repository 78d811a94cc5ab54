"""A job kind that exists only under the test settings: it proves that real worker processes
pick jobs up, report progress, retry, survive a kill and finish each job once, without a
test-only table in the product's schema. tests/settings.py installs this app; worker processes
started by tests run with those settings, so they load it beside the product's apps."""
