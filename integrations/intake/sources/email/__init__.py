"""Lead emails: the doors, the parsers, the trust rules (docs/sources.md, "Email")."""
