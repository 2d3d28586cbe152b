"""The command-line edge of the clients: argument parsing, prompts and printing.

Everything here translates between a person at a terminal and the role modules of ``client``
(petitioner, bureau, auditor), which never print.
"""
