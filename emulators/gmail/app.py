"""The Starlette app: Google's hosts folded onto one loopback origin.

``/gmail/v1/…``, ``/upload/gmail/v1/…`` (gmail.googleapis.com), ``/batch/gmail/v1``, OAuth
(accounts.google.com / oauth2.googleapis.com: ``/o/oauth2/auth``, ``/token``, ``/revoke``,
``/tokeninfo``, ``/v1/userinfo``) and the signing keys (``/oauth2/v1/certs`` PEM,
``/oauth2/v3/certs`` JWKS), and the emulator's own administration (``/emulator/…``, `admin.py`: service
account keys, domain-wide delegation). Handlers are synchronous and run in the thread pool, so a slow call
never stalls the event loop.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulators.slow import SlowService

from .admin import Admin
from .api import GmailApi
from .batch import handle_batch
from .consent import ConsentScreen
from .faults import unavailable
from .keys import SigningKey
from .oauth import OAuthServer
from .wire import ApiRequest, ApiResponse

ALL = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _endpoint(handler: Callable[[ApiRequest], ApiResponse]):
    async def endpoint(request: Request) -> Response:
        try:
            body = await request.body()
        except ClientDisconnect:  # the client gave up mid-request (its timeout): nobody to answer, nothing to log
            return Response(status_code=499)
        req = ApiRequest.build(request.method, request.url.path, request.url.query, dict(request.headers), body)
        result = await run_in_threadpool(handler, req)
        return Response(result.body, status_code=result.status, headers=result.headers)

    return endpoint


def build_app(api: GmailApi, oauth: OAuthServer, consent: ConsentScreen, keys: SigningKey,
              admin: Admin) -> SlowService:
    def certs_v1(_: ApiRequest) -> ApiResponse:
        return ApiResponse.json(keys.pem_certs(), headers={"Cache-Control": "public, max-age=3600"})

    def certs_v3(_: ApiRequest) -> ApiResponse:
        return ApiResponse.json(keys.jwks(), headers={"Cache-Control": "public, max-age=3600"})

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok", "service": "gmail-emulator"})

    routes = [
        Route("/gmail/v1/{rest:path}", _endpoint(api.handle), methods=ALL),
        Route("/upload/gmail/v1/{rest:path}", _endpoint(api.handle), methods=ALL),
        Route("/batch/gmail/v1", _endpoint(lambda r: handle_batch(api, r)), methods=["POST"]),
        Route("/batch", _endpoint(lambda r: handle_batch(api, r)), methods=["POST"]),
        Route("/o/oauth2/auth", _endpoint(consent.authorize), methods=["GET"]),
        Route("/o/oauth2/v2/auth", _endpoint(consent.authorize), methods=["GET"]),
        Route("/o/oauth2/consent", _endpoint(consent.submit), methods=["POST"]),
        Route("/token", _endpoint(oauth.token), methods=["POST"]),
        Route("/o/oauth2/token", _endpoint(oauth.token), methods=["POST"]),
        Route("/revoke", _endpoint(oauth.revoke), methods=["GET", "POST"]),
        Route("/o/oauth2/revoke", _endpoint(oauth.revoke), methods=["GET", "POST"]),
        Route("/tokeninfo", _endpoint(oauth.tokeninfo), methods=["GET", "POST"]),
        Route("/oauth2/v3/tokeninfo", _endpoint(oauth.tokeninfo), methods=["GET", "POST"]),
        Route("/v1/userinfo", _endpoint(oauth.userinfo), methods=["GET"]),
        Route("/oauth2/v3/userinfo", _endpoint(oauth.userinfo), methods=["GET"]),
        Route("/oauth2/v2/userinfo", _endpoint(lambda r: oauth.userinfo(r, v2=True)), methods=["GET"]),
        Route("/oauth2/v1/certs", _endpoint(certs_v1), methods=["GET"]),
        Route("/oauth2/v3/certs", _endpoint(certs_v3), methods=["GET"]),
        Route("/.well-known/openid-configuration", _endpoint(lambda _: oauth.openid_configuration()),
              methods=["GET"]),
        Route("/emulator/health", health, methods=["GET"]),
        Route("/emulator/service-accounts", _endpoint(admin.create_key), methods=["POST"]),
        Route("/emulator/domain-wide-delegation", _endpoint(admin.delegation), methods=["POST", "DELETE"]),
    ]
    return SlowService(Starlette(routes=routes), api.faults.slow, ("/gmail/v1/", "/batch"), unavailable)
