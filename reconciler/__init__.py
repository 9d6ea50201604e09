"""reconcile: a declarative state reconciler for servers, containers and AWS."""

__version__ = "0.2.0"
