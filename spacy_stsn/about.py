"""The package's version, in a module of its own: ``setup.py`` reads it without
importing the package, and modules inside the package import it without importing the
package's ``__init__`` (which sits above them)."""

__version__ = "0.1.0"
