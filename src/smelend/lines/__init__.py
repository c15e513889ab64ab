"""Credit-line management: the book snapshot, the behaviour score, collections and reassessment (issue 7).

Deliberately empty: each module here has one job and is imported by name, so the modules of the
snapshot/behaviour/collections work and of the reassessment/close-of-business work never collide.
"""
