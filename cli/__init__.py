"""The ``grokscope`` command line: parsing and exit codes only; the work is in the library."""
