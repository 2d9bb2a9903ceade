"""echo-edge: the Echo speech recogniser and its road to the edge.

Importing the package must stay cheap and torch-free: the runtime imports it on devices.
"""

__version__ = "0.1.0"
