"""The site server's collector: stores every event exactly once and serves the manager dashboard.

Ingest (MQTT 5 persistent session, manual acknowledgement after commit) -> SQLite (WAL) ->
Starlette web app (dashboard with live updates over server-sent events, JSON API).
"""
