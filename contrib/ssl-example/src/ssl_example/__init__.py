"""ssl-example: an example third-party plugin for ssl (the ``example-l2`` regularizer)."""

from ssl_example.plugin import ExampleL2, ExampleL2Config

__all__ = ["ExampleL2", "ExampleL2Config"]
