"""A loopback Gmail API v1 + Google OAuth + Pub/Sub push emulator, spoken to by the real clients.

    emu = GmailEmulator(post_office); urls = emu.start(); emu.add_user("ann@firm.example", "Ann")
    service = googleapiclient.discovery.build(
        "gmail", "v1", credentials=creds, static_discovery=True,
        client_options={"api_endpoint": urls.api_endpoint})
    batch = BatchHttpRequest(batch_uri=urls.batch_uri)   # new_batch_http_request() ignores api_endpoint
    Flow.from_client_config({"web": {..., "auth_uri": urls.auth_uri, "token_uri": urls.token_uri}}, ...)
    service_account.Credentials.from_service_account_info({..., "token_uri": urls.token_uri})
    id_token.verify_token(jwt, Request(), audience=endpoint_url, certs_url=urls.certs_url)

Plain http on loopback: google-auth-oauthlib needs OAUTHLIB_INSECURE_TRANSPORT=1 (tests only), and
googleapiclient media uploads keep https, so send with the JSON ``raw`` body. See `server.py`.

As Gmail does, by default: drafts are DRAFT-labelled messages in their threads and history (`drafts`);
the users' filters archive or label mail on arrival, spam arrives labelled SPAM, and "Not spam" is a
label change (`filters`; ``classify_as_spam`` stands in for Google's classifier); a watch's ``exclude``
filter leaves out every change relating to the labels named.
"""

from .server import GmailEmulator, GmailUrls, serve_forever

__all__ = ["GmailEmulator", "GmailUrls", "serve_forever"]
