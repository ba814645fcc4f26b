"""The protocol core every role imports: topics, schemas, the durable outbox and the client.
Knows no role."""
