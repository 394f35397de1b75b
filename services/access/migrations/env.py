from services.access.store import metadata
from services.runtime.migrations_env import run

run(metadata)
