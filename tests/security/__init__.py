"""The hardening suite, by OWASP API Security Top 10 (2023) item; see SECURITY.md."""
