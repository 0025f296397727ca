"""The ``sandbox`` command: click commands that parse, call the library and render with rich. No logic here."""
