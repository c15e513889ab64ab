"""The risk engine: provider data -> features -> policy rules -> scorecard / challenger -> limit -> decision.

A pure core: no web framework, no database. Adapters (CLI, API, store) call into it.
"""
