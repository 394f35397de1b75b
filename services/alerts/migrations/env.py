from services.alerts.store import metadata
from services.runtime.migrations_env import run

run(metadata)
