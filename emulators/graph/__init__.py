"""A loopback Microsoft Graph v1.0 + Microsoft identity platform (v2.0) emulator.

The real ``msal`` and ``msgraph-sdk`` talk to it unchanged; only base URLs and TLS trust differ.

    emulator = GraphEmulator()                      # or GraphEmulator(post_office) to share a mail world
    urls = emulator.start()                         # two loopback listeners, daemon threads
    alice = emulator.add_user("alice@contoso.com", "Alice Adams", tenant_id=TENANT)
    emulator.register_app(CLIENT_ID, SECRET, ["http://localhost:8400/auth/callback"])
    emulator.set_consent("approve", login_user=None)   # tests; "page" (default) serves an HTML consent page
    ...
    emulator.stop()

Standalone (``bcc-capture emulate graph``): `serve_forever()` / `main()`, also
``python -m emulators.graph --user alice@contoso.com=Alice --app ID:SECRET:REDIRECT``; it prints
the authority, the Graph base URLs and the CA path.

Client configuration
--------------------
msal 1.39 needs an ``https`` authority, trust in the throwaway CA, and no instance discovery (msal
would otherwise query ``https://<host without port>/common/discovery/instance``)::

    session = requests.Session()
    session.verify = urls.ca_path
    session.trust_env = False          # else REQUESTS_CA_BUNDLE in the environment overrides verify
    app = msal.ConfidentialClientApplication(
        CLIENT_ID, client_credential=SECRET, authority=urls.authority(TENANT),  # https://127.0.0.1:P/{tenant}
        http_client=session, instance_discovery=False)       # validate_authority may stay True

msal 1.39 does not validate id_tokens (it still checks the ``nonce`` in the auth code flow; the
emulator echoes it). msgraph-sdk: a bearer provider whose `AllowedHostsValidator` allows the
emulator host, and ``base_url`` set on the adapter *before* `GraphServiceClient` (which otherwise
sets ``https://graph.microsoft.com/v1.0``). Plain http is fine: only kiota's Azure-identity token
provider insists on https, and it exempts localhost::

    class Tokens(AccessTokenProvider):
        async def get_authorization_token(self, uri, additional_authentication_context=None):
            return access_token
        def get_allowed_hosts_validator(self):
            return AllowedHostsValidator(["127.0.0.1"])

    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(Tokens()))
    adapter.base_url = urls.graph_url                       # http://127.0.0.1:P/v1.0
    client = GraphServiceClient(request_adapter=adapter)

Failures reach SDK callers as ``msgraph.generated.models.o_data_errors.o_data_error.ODataError``
(a kiota ``APIError``): ``.response_status_code`` (401 ``InvalidAuthenticationToken``, 403
``ErrorAccessDenied``, 410 ``SyncStateNotFound``, 429 ``TooManyRequests``/``ApplicationThrottled``,
503 ``serviceNotAvailable``), ``.error.code``, ``.error.message`` and ``.response_headers``
(``Retry-After``). The SDK's default RetryHandler already retries 429/503/504 up to 3 times when
Retry-After is under 180 s; disable it per request with ``RetryHandlerOption(max_retries=0)``.
msal reports grant errors as dicts: ``{"error": "invalid_grant", "error_codes": [50173], ...}``.
msgraph-core's batch helpers import the ``Deprecated`` package without declaring it (the project
lists it). Its ``BatchResponseItem`` reads item bodies as base64 only, dropping JSON error bodies;
``providers.graph.client.batch`` builds the request with msgraph-core and reads the answer itself.

Endpoints
---------
Identity (https): ``/{tenant}/v2.0/.well-known/openid-configuration``, ``/{tenant}/discovery/v2.0/keys``,
``/{tenant}/oauth2/v2.0/authorize``, ``/{tenant}/oauth2/v2.0/token``, ``/{tenant}/adminconsent``,
``/{tenant}/v2.0/adminconsent``. Graph (``/v1.0``, http and https): ``/me``, ``/users``,
``/users/{id|upn}``, ``…/mailFolders``, ``…/mailFolders/{id|wellKnownName}``, ``…/messages`` (and in a
folder) GET and POST (a draft), ``…/messages/{id}`` GET/PATCH/DELETE, ``…/$value``, ``…/attachments``,
``…/attachments/{id}`` (+``/$value``), ``…/reply``, ``…/replyAll``, ``…/forward``, ``…/createReply``,
``…/createReplyAll``, ``…/createForward``, ``…/send`` (a draft), ``…/move``, ``…/sendMail`` (JSON or
base64 MIME), ``…/mailFolders/{id}/messages/delta``, ``/subscriptions`` (+``/{id}``, ``/{id}/reauthorize``),
``/$batch``.

Control knobs (thread-safe)
---------------------------
Seeding: ``add_user``, ``register_app``, ``grant_admin_consent``, ``grant_consent``, ``set_consent``.
Identity: ``revoke_grant(address, client_id=None)`` (refresh → invalid_grant, access → 401, delegated
subscriptions get reauthorizationRequired), ``revoke_admin_consent``, ``expire_access_tokens``,
``tokens.strict_refresh_rotation``, ``tokens.access_token_lifetime``.
Mail: ``send(sender, raw)``, ``messages(address, folder)``, ``delete_message``, ``move_message``,
``mark_read``, ``expire_delta(address)``, ``delta.token_max_age``, ``delta.default_page_size``.
Subscriptions: ``subscriptions()``, ``send_lifecycle_event(id, event)``, ``expire_subscription``,
``notification_attempts()``, ``wait_for_notifications()``, ``subscription_api.expiration_policy``,
``notifier.timeout``/``slow_threshold``/``slow_min_samples``/``retry_delays``.
Faults (`faults.FaultPlan`): ``inject_http_errors(status, next_n=, probability=, retry_after=,
path_contains=)``, ``delay_responses``, ``drop_notifications``, ``duplicate_notifications``,
``delay_notifications``, ``reorder_notifications``, ``seed``, ``clear``.
Throttling: ``set_throttle_limits(concurrency=4, requests_per_window=10000, window_seconds=600)``.
Time: ``clock.advance(seconds)``, ``clock.set_scale(factor)`` (everything, incl. token lifetimes).
Accounting: ``request_log()`` (`RequestRecord`: endpoint template, status, app, mailbox, in_batch),
``request_counts()`` (Counter by endpoint template), ``clear_request_log()``.

Modelling choices
-----------------
Ids are immutable-style (stable across moves) whatever the client prefers; ``Prefer:
IdType="ImmutableId"`` is acknowledged in ``Preference-Applied``. ``conversationId`` is per mailbox and,
as in Exchange, follows the normalised subject topic only; ``conversationIndex`` is the Thread-Index Outlook
writes (22-byte root + 5 bytes per reply), fresh for mail that arrives without one (`conversations`).
As Exchange does, by default: drafts live in Drafts with ``isDraft`` and an ``internetMessageId`` and
show in ``/messages`` and conversation filters (`drafts`); Sent Items copies and drafts carry no
``internetMessageHeaders`` (their thread ids remain as the MAPI properties a client may ``$expand`` as
``singleValueExtendedProperties``: 0x1042 In-Reply-To, 0x1039 References); Message-IDs are written
Exchange's way, server name in upper case (`mime.exchange_message_id`), and ``internetMessageId eq``
compares exactly; an expired delta token answers 410 ``SyncStateNotFound``.
Delta and subscription details: see `delta`, `subscriptions`, `notifier`, `throttle`.
"""

from .server import EmulatorUrls, GraphEmulator, main, serve_forever

__all__ = ["EmulatorUrls", "GraphEmulator", "main", "serve_forever"]
