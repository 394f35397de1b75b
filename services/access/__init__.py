"""access: users and roles for people, the permission procedure of seed 000 art. 22, login with
short-lived access tokens and rotating refresh tokens, and the audit log (append-only, scoped)."""
