"""Queue kiosk (issue 6): touchscreen ticket issuing with thermal printing."""
