"""The submission server (Flask application factory, SQLCipher storage, transparency log).

It depends on ``crypto`` for every format and never imports ``client``. It arrives with the
server issue; until then this package is intentionally empty.
"""
