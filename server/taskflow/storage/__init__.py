"""The store implementations (SQLite embedded, MongoDB in production) of services.ports.Store."""
