"""The version, in one place: the package, run provenance and Ray's same-version check read it."""
__version__ = "0.1.0"
