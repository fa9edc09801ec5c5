"""workbench: scaffold, test, deploy and compare independently deployable microservices."""

__version__ = "0.1.0"
