"""ticketing: the site's single queue authority (number leases, call-next, ticket lifecycle,
retained queue state)."""
