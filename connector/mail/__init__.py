"""Mail as the core reads it: the provider-neutral envelope, RFC 5322 parsing, forwards, HTML as text."""
