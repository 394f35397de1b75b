"""fundwatch services: ingest, ledger, alerts, notify, and the shared runtime they run on."""
