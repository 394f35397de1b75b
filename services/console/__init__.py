"""The operator console (运营控制台): Simplified-Chinese web pages for the treasury group, the
responsible groups and the rule administrators, rendered on the server from the services' own
APIs with the signed-in user's token (so what a page shows is scoped by those APIs)."""
