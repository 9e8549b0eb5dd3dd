"""Accounts and tokens, owned by the kernel: models, passwords, JWT, service, decorators, routes."""
