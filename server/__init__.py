"""The submission server: Flask application factory, SQLCipher storage, transparency log.

Layout (one job per module):

* :mod:`server.config` parses settings once into an immutable :class:`ServerConfig`;
* :mod:`server.datadir` creates and opens the data directory (database key, log key);
* :mod:`server.database` owns the SQLCipher schema and the read queries workers run;
* :mod:`server.merkle_store` keeps the log's Merkle nodes in the database;
* :mod:`server.writer` is the single writer process: a bounded queue and group commits;
* :mod:`server.ipc` is the framing between HTTP workers and the writer;
* :mod:`server.app` is the Flask application factory; :mod:`server.blueprints` one blueprint per
  audience (public, bureau, log, admin);
* :mod:`server.serve` runs it all under gunicorn, with logging that names no client.

It holds no bureau key of any kind and computes nothing from an ID number: what it stores is
ciphertext, hashes, bureau ids, days and statuses (protocol v2). It depends on ``crypto`` for
every format and never imports ``client``.
"""
