"""The strategy lab (issue 9): a simulated SME market that drives the platform's real engines month by month.

Pure core: no web framework, no database. :mod:`population` draws the businesses, :mod:`strategy` reads a
strategy file, :mod:`market` runs one strategy over the population (decisions by the real risk engine and
pricer, schedules by the real servicing engine, entries by the real posting rules), :mod:`compare` runs
seeds and strategies and summarises them, :mod:`report` draws the charts.
"""
