"""Use cases run against the store: open a line, draw, repay, close business, reconcile.

The glue between the pure core (servicing, ledger), the database (store) and the bank core (payment
adapter). The CLI and, later, the API call these; each keeps the rule that bad input changes nothing.
"""
