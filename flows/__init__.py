"""The DAG's nodes: one Prefect flow per DVC stage, thin over the `aiprod` library.

Importing this package points Prefect at a project-local home and keeps it offline, unless
the caller already chose (PREFECT_API_URL set by `make run`, or a test harness).
"""

import os
from pathlib import Path

os.environ.setdefault("PREFECT_HOME", str(Path.cwd() / ".prefect"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
