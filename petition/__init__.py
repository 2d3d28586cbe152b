"""The ``petition`` command: a thin dispatcher over subcommands that other packages contribute.

``client`` and ``server`` each register their own subcommands through the
``sealed_petition.commands`` entry-point group, so that this one program can offer both without
either package importing the other.
"""
