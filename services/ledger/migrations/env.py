from services.ledger.schema import metadata
from services.runtime.migrations_env import run

run(metadata)
