"""The dropbox's own front door: mail delivered to a dropbox address over SMTP (or posted by an inbound-mail
service), authenticated, never lost; and the little mail the product itself sends.

    listener.py        aiosmtpd: RCPT policy, SIZE, per-peer limits, STARTTLS; 250 only after the spool commit
    recipients.py      what RCPT TO answers for an address (unknown, retired, another domain)
    spool.py           the durable store the listener writes and the filers claim
    filing.py          spooled row → parse → noise? → route → authenticate → file or quarantine, one transaction
    noise.py           bounces, DSNs, auto-replies and mailer-daemons: never filed, never answered
    authentication.py  SPF (pyspf), DKIM and ARC (dkimpy), DMARC (dmarc) → one verdict and the policy
    resolver.py        the DNS those libraries ask (dnspython, a configurable server)
    server.py          `bcc-capture smtp`: the listener and its filing threads
    inbound.py         mail posted by inbound-mail services: replay guard, recipients, into the same spool
    inbound_services.py  Postmark, Mailgun and SendGrid calls verified and read
    ses.py             Amazon SES through SNS: the SNS signature, the topic, the subscription handshake
    outbound.py        mail the product sends (codes, notices) through the firm's submission server
    notices.py         what those notices say, and when they are sent

It lives in the core rather than under providers/: a provider adapter may import only the ports, the
envelope, the errors, the MIME parser and the settings, and the composition root registers mailbox
providers only, so nothing could join an SMTP adapter to the spool, the router and the quarantine.
The SMTP side stays narrow all the same: the listener knows the spool and the recipient policy only
through two callables it is handed.
"""
