"""The book-wide close of business: stages, the pure per-batch work, runners (local, Ray), the writer.

See :mod:`smelend.cob.pipeline` for the stages and their order, :mod:`smelend.cob.work` for the
function every runner applies to each batch, :mod:`smelend.cob.runners` for the runners.
"""
