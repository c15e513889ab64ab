"""Marketing and customer operations: channels, attribution, funnel, segments, uplift, retention.

A pure core: no database and no web framework. Every figure is a plain function over plain data
(polars frames of events in, frozen dataclasses or dicts out), so the CLI, the API router and the
staff dashboard all call the same code.
"""
