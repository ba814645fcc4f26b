"""The citizen portal: the ticket's QR page (live state, rating from the phone), feedback, the
public site page. A device on the wire with its own MQTT login; never reads the collector."""
