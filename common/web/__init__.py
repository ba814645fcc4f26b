"""The web layer every web role shares (collector dashboard, citizen portal, province, ...).

- :mod:`.i18n`: Vietnamese-first labels and the language choice (``?lang=`` then a cookie);
- :mod:`.pages`: one Jinja2 environment (autoescape) over the role's templates and the shared
  ``base.html`` / ``error.html``, and the bilingual error pages;
- :mod:`.auth`: roles and their scopes, a cookie-or-bearer backend for Starlette's
  ``AuthenticationMiddleware`` and the ``requires`` decorator;
- :mod:`.csrf`, :mod:`.security`: CSRF protection, security headers, the request body limit;
- :mod:`.throttle`: failed-login throttling per account and address;
- :mod:`.app`: :func:`build_app` puts them together in the documented order.

No module here imports a role: the portal process uses it without the collector.
"""
