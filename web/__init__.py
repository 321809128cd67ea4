"""The Caseline web app (FastAPI, Jinja2, htmx). ``web.app:create_app`` builds it."""
