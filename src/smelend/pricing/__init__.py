"""Pricing and rationing: the break-even rate, capital, take-up, the profit-optimal rate, grids, caps,
and credit rationing (Stiglitz-Weiss; limits under a budget). A pure core: no web, no database."""
