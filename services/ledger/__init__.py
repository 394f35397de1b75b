"""The ledger service: the double-entry indicator ledger (总台账), fund lineage, tracing, queries.

Domain (pure): `postings` (chart of accounts, posting rules, red-ink corrections, seed 002
spending rules), `interlock` (咬合, 指定关联), `statistics` (scale / available / paid / progress).
Recording: `recorder` (one handler per event type; the Projection's apply), `batch` and
`workingset` (a batch's loads and writes), `bulk` (COPY / unnest), `derived` (the ledger topic).
Reading: `queries/*` (all SQL of the API), `api/*` (FastAPI routers and models).
Operations: `main` (the service), `rebuild` (replay and compare, verify), `audit` (hash chain,
checksums), `schema` + `migrations/` (tables)."""
