"""``smelend serve``: run the HTTP API (FastAPI on uvicorn)."""

from __future__ import annotations

import typer

from smelend.cli.common import app
from smelend.errors import InvalidInput

MAX_PORT = 65_535


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", help="Worker processes (each loads the models once)."),
    threads: int | None = typer.Option(None, "--threads", help="Blocking calls (database work, decisions) each worker runs at once "
                                       "[default: 1 on SQLite, 2 on PostgreSQL, whose round trips leave a worker waiting]; "
                                       "more threads of CPU-bound Python only contend for the GIL: scale with --workers."),
) -> None:
    """Serve the lending API (/v1/..., /healthz, /metrics, OpenAPI at /docs) on the configured database."""
    if not 1 <= port <= MAX_PORT:
        raise InvalidInput.one("port", f"must be between 1 and {MAX_PORT}")
    if not 1 <= workers <= 64:
        raise InvalidInput.one("workers", "must be between 1 and 64")
    from smelend import settings
    from smelend.api.serving import MAX_THREADS, default_threads

    if threads is None:
        threads = default_threads(settings.database_url())
    if not 1 <= threads <= MAX_THREADS:
        raise InvalidInput.one("threads", f"must be between 1 and {MAX_THREADS}")
    import os

    import uvicorn

    from smelend.api.app import THREADS_ENV, WORKERS_ENV

    os.environ[WORKERS_ENV] = str(workers)  # the workers split each partner's rate limit between them
    os.environ[THREADS_ENV] = str(threads)  # read by each worker's start-up (smelend.api.serving)
    if workers == 1:
        from smelend.api.app import create_app

        uvicorn.run(create_app(), host=host, port=port, log_level="info")
    else:
        uvicorn.run("smelend.api.app:create_app", factory=True, host=host, port=port, workers=workers, log_level="info")
