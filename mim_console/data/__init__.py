"""SQLite storage: the store, migrations, repositories returning domain dataclasses, importers."""
