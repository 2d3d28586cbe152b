"""``petition witness``: a tlog-witness (c2sp.org/tlog-witness) that anyone can run.

An NGO, an observer or an auditor runs one to keep the log honest: the log needs cosignatures
from its witnesses on every checkpoint it publishes, and a witness gives one only for a
checkpoint consistent with the last one it cosigned. A log that showed two histories would need
witnesses to cosign both, and no honest witness does.

* :mod:`server.witness.store` owns the witness directory and its SQLite state;
* :mod:`server.witness.app` is the protocol (:class:`~server.witness.app.Witness`) and its
  Flask application;
* :mod:`server.witness.serving` runs it under gunicorn;
* :mod:`server.witness.commands` is the command line.

The log's side of the protocol, asking witnesses for cosignatures, is :mod:`server.witnessing`.
"""
