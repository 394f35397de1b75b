"""Shared runtime of every service: settings, Kafka and database helpers, the embedded
broker, migrations, the supervisor and the `fundwatch` command. No domain logic here."""
