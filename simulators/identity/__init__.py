"""Reference identity provider: client credentials with RFC 7523 assertions, JWT access tokens."""
