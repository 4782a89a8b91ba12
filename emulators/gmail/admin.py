"""What a Google Workspace administrator and a Cloud project owner do by hand, as emulator controls for
integrators (no Google account needed): create a service account key, authorize domain-wide delegation.

* ``POST /emulator/service-accounts`` ``{"email"?, "client_id"?}`` → the JSON key file, as the Cloud
  console's "Keys > Add key > JSON" downloads it (https://cloud.google.com/iam/docs/keys-create-delete):
  ``type``, ``project_id``, ``private_key_id``, ``private_key`` (PKCS#8 PEM), ``client_email``,
  ``client_id`` (the numeric unique id an admin authorizes), ``token_uri`` (this emulator's).
* ``POST /emulator/domain-wide-delegation`` ``{"domain", "client_id", "scopes": [...]}`` → 204: the Admin
  console's "Security > API controls > Domain-wide delegation > Add new"
  (https://support.google.com/a/answer/162106). ``DELETE`` with ``{"domain", "client_id"}`` removes it.

With both, google-auth's ``service_account.Credentials.from_service_account_file(key).with_subject(user)``
gets tokens from ``/token`` through the JWT bearer grant (`oauth.py`), for the authorized scopes only.
These paths are the emulator's own; Google has no such endpoints.
"""

from __future__ import annotations

import secrets
from typing import Any

from .keys import new_rsa_key_pem
from .oauth import OAuthServer
from .wire import ApiError, ApiRequest, ApiResponse

DEFAULT_ACCOUNT = "capture@emulated-project.iam.gserviceaccount.com"


class Admin:
    def __init__(self, oauth: OAuthServer) -> None:
        self._oauth = oauth

    def new_key(self, email: str = DEFAULT_ACCOUNT, client_id: str = "", key_id: str = "") -> dict[str, str]:
        """A fresh RSA key for ``email`` (created if new); the JSON key file's contents."""
        private_pem, public_pem = new_rsa_key_pem()
        known = self._oauth.service_accounts.get(email)
        client_id = client_id or (known.client_id if known else str(10**20 + secrets.randbelow(9 * 10**20)))
        key_id = key_id or secrets.token_hex(20)
        self._oauth.register_service_account(email, public_pem, client_id, key_id)
        return {
            "type": "service_account",
            "project_id": email.partition("@")[2].split(".")[0] or "emulated-project",
            "private_key_id": key_id,
            "private_key": private_pem,
            "client_email": email,
            "client_id": client_id,
            "auth_uri": f"{self._oauth.base_url}/o/oauth2/auth",
            "token_uri": f"{self._oauth.base_url}/token",
        }

    def create_key(self, req: ApiRequest) -> ApiResponse:
        try:
            body = req.json()
            email = str(body.get("email") or DEFAULT_ACCOUNT)
            if "@" not in email or not email.endswith(".iam.gserviceaccount.com"):
                raise ApiError(400, f"Invalid service account {email!r}: name@project.iam.gserviceaccount.com",
                               "invalidArgument")
        except ApiError as error:
            return error.to_response()
        return ApiResponse.json(self.new_key(email, str(body.get("client_id") or "")))

    def delegation(self, req: ApiRequest) -> ApiResponse:
        try:
            body = req.json()
            domain, client_id, scopes = _delegation(body, req.method == "DELETE")
        except ApiError as error:
            return error.to_response()
        if req.method == "DELETE":
            self._oauth.revoke_delegation(domain, client_id)
        else:
            self._oauth.authorize_delegation(domain, client_id, scopes)
        return ApiResponse.empty()


def _delegation(body: dict[str, Any], removing: bool) -> tuple[str, str, list[str]]:
    domain, client_id = str(body.get("domain") or "").lower(), str(body.get("client_id") or "")
    if not domain or not client_id:
        raise ApiError(400, "domain and client_id are required", "invalidArgument")
    scopes = body.get("scopes")
    if removing:
        return domain, client_id, []
    if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) for s in scopes):
        raise ApiError(400, "scopes: a list of OAuth scope URLs", "invalidArgument")
    return domain, client_id, scopes
