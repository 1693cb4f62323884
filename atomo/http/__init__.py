"""The HTTP surface: the Litestar application (``atomo.http.app.create_app``) and its routes."""
