"""The Flask application factory.

``create_app(config)`` builds one independent application: its services are constructed here
and stored on the app, never in module globals. gunicorn calls it in each worker process after
forking, so every worker opens its own database connections and writer sockets.
"""

from __future__ import annotations

from importlib import resources

from flask import Flask, Response, request

from server.blueprints import admin, bureau, log, public, stats
from server.config import ServerConfig
from server.database import Database
from server.datadir import DataDirectory
from server.http_edge import register_error_handlers
from server.ipc import WriterClient
from server.postgres import PostgresDatabase
from server.published import DirectoryFile
from server.published_log import PublishedCheckpoint
from server.services import EXTENSION_NAME, LogFileReader, Services
from server.tile_store import DirectoryLogFiles

# Headers on every response: nothing may be cached (except the static log under /log/) or
# sniffed, and no response may set a cookie.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


def load_openapi() -> bytes:
    return resources.files("server").joinpath("openapi.json").read_bytes()


def create_app(config: ServerConfig) -> Flask:
    data = DataDirectory.open_existing(config.data_dir)
    app = Flask("sealed_petition")
    app.config.update(MAX_CONTENT_LENGTH=config.max_body_bytes)
    # No redirects: werkzeug would answer "/v1//directory" with an HTML 308 to "/v1/directory".
    # An API client sends the documented paths; anything else is a JSON 404 like every route
    # that does not exist.
    app.url_map.merge_slashes = False
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    database: Database | PostgresDatabase
    log_files: LogFileReader
    if config.database_url is None:
        database = Database(data.database_path, data.database_key())
        directory_files = DirectoryLogFiles(data.public_log_dir)
        log_files, read_checkpoint = directory_files, directory_files.read_checkpoint
    else:
        # Every front end reads the same database; /log/ is served from it too.
        database = log_files = PostgresDatabase(config.database_url)
        read_checkpoint = database.published_checkpoint
    app.extensions[EXTENSION_NAME] = Services(
        config=config,
        data=data,
        database=database,
        writer=WriterClient(data.socket_path, config.writer_timeout_seconds),
        directory_file=DirectoryFile(data.directory_path),
        checkpoint=PublishedCheckpoint(read_checkpoint),
        log_files=log_files,
        openapi=load_openapi(),
    )
    for blueprint in (
        public.blueprint,
        bureau.blueprint,
        log.blueprint,
        log.static_blueprint,
        stats.blueprint,
        admin.blueprint,
    ):
        app.register_blueprint(blueprint)
    register_error_handlers(app)

    @app.after_request
    def _harden(response: Response) -> Response:
        if request.method == "OPTIONS" and response.status_code == 200:
            # Flask's automatic answer is an empty text/html 200: the methods are in ``Allow``,
            # and there is no body to type.
            response.status_code = 204
            response.headers.pop("Content-Type", None)
            response.headers.pop("Content-Length", None)
        cache = response.headers.get("Cache-Control")
        response.headers.update(SECURITY_HEADERS)
        if cache is not None and request.path.startswith("/log/") and response.status_code == 200:
            # The static log alone may be cached (tlog-tiles): it is public and names no one.
            response.headers["Cache-Control"] = cache
        response.headers.pop("Set-Cookie", None)
        return response

    return app
