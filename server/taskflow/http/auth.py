"""/auth and /users/me."""

from __future__ import annotations

from quart import Blueprint, Response, after_this_request, request
from quart_schema import security_scheme, tag_blueprint, validate_request
from werkzeug.wrappers import Response as WerkzeugResponse

from taskflow.errors import Unauthorized
from taskflow.http.responses import json_body
from taskflow.http.runtime import authenticated, client_address, runtime
from taskflow.http.schemas import (
    AccountDeleteIn,
    LoginIn,
    ProfilePatch,
    RefreshIn,
    RegisterIn,
    SessionOut,
    UserOut,
)
from taskflow.services.access import Actor
from taskflow.services.views import user_view

blueprint = Blueprint("auth", __name__, url_prefix="/api/v1")
tag_blueprint(blueprint, ["auth"])
PUBLIC: list[dict[str, list[str]]] = []

# The refresh token also travels in this cookie, for browsers: HttpOnly (script never sees it),
# Secure, SameSite=Strict (never sent from another site), and sent only to /api/v1/auth, so a
# new tab can resume the session while access tokens stay in page memory. The JSON body keeps
# carrying the token too, for REST clients (the v1 contract).
REFRESH_COOKIE = "taskflow_refresh"
AnyResponse = Response | WerkzeugResponse
REFRESH_COOKIE_PATH = "/api/v1/auth"


def _set_refresh_cookie(token: str) -> None:
    max_age = runtime().settings.refresh_token_ttl

    @after_this_request
    async def _cookie(response: AnyResponse) -> AnyResponse:
        response.set_cookie(REFRESH_COOKIE, token, max_age=max_age, path=REFRESH_COOKIE_PATH,
                            secure=True, httponly=True, samesite="Strict")
        return response


def _clear_refresh_cookie() -> None:
    @after_this_request
    async def _cookie(response: AnyResponse) -> AnyResponse:
        response.delete_cookie(REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, secure=True,
                               httponly=True, samesite="Strict")
        return response


def _refresh_token(data: RefreshIn) -> str:
    """The body's refresh token, else the cookie's."""
    token = data.refresh_token or request.cookies.get(REFRESH_COOKIE)
    if not token:
        raise Unauthorized("Send refresh_token (or the refresh cookie)")
    return token


async def _limit_address() -> None:
    rt = runtime()
    await rt.limit(rt.settings.rate_limits.auth_per_address, "auth-address", client_address())


async def _limit_password_checks(actor: Actor) -> None:
    """A request that checks the current password is a guess at it, like a login: held to
    the per-account login limit (a bucket of its own per user), so that a stolen access
    token can't try passwords at the API's rate."""
    rt = runtime()
    await rt.limit(rt.settings.rate_limits.login_per_account, "password-check", actor.user_id)


@blueprint.post("/auth/register")
@security_scheme(PUBLIC)
@validate_request(RegisterIn)
@json_body(SessionOut, 201)
async def register(data: RegisterIn) -> tuple[dict[str, object], int]:
    """Create an account (and its personal board); signs in."""
    await _limit_address()
    session = await runtime().services.auth.register(email=data.email, password=data.password,
                                                     name=data.name)
    view = session.view()
    _set_refresh_cookie(str(view["refresh_token"]))
    return view, 201


@blueprint.post("/auth/login")
@security_scheme(PUBLIC)
@validate_request(LoginIn)
@json_body(SessionOut, 200)
async def login(data: LoginIn) -> dict[str, object]:
    """Sign in; 429 after repeated attempts on one account or from one address."""
    rt = runtime()
    await _limit_address()
    await rt.limit(rt.settings.rate_limits.login_per_account, "login-account",
                         data.email.casefold())
    session = await rt.services.auth.login(email=data.email, password=data.password)
    view = session.view()
    _set_refresh_cookie(str(view["refresh_token"]))
    return view


@blueprint.post("/auth/refresh")
@security_scheme(PUBLIC)
@validate_request(RefreshIn)
@json_body(SessionOut, 200)
async def refresh(data: RefreshIn) -> dict[str, object]:
    """Trade a refresh token (body, or the refresh cookie) for new tokens; the old one is spent."""
    await _limit_address()
    token = _refresh_token(data)
    try:
        view = (await runtime().services.auth.refresh(token)).view()
    except Unauthorized:
        _clear_refresh_cookie()
        raise
    _set_refresh_cookie(str(view["refresh_token"]))
    return view


@blueprint.post("/auth/logout")
@authenticated
@validate_request(RefreshIn)
async def logout(data: RefreshIn, actor: Actor) -> Response:
    """End this login: its refresh tokens and live connections."""
    await runtime().services.auth.logout(actor, _refresh_token(data))
    _clear_refresh_cookie()
    return Response(status=204)


@blueprint.get("/users/me")
@authenticated
@json_body(UserOut, 200)
async def get_me(actor: Actor) -> dict[str, object]:
    """The caller's profile."""
    return user_view(await runtime().services.auth.me(actor))


@blueprint.patch("/users/me")
@authenticated
@validate_request(ProfilePatch)
@json_body(UserOut, 200)
async def patch_me(data: ProfilePatch, actor: Actor) -> dict[str, object]:
    """Change name, email or password (the last two need current_password)."""
    if data.current_password is not None:
        await _limit_password_checks(actor)
    user = await runtime().services.auth.update_me(
        actor, name=data.name, email=data.email, password=data.password,
        current_password=data.current_password,
    )
    return user_view(user)


@blueprint.delete("/users/me")
@authenticated
@validate_request(AccountDeleteIn)
async def delete_me(data: AccountDeleteIn, actor: Actor) -> Response:
    """Delete your account.

    With your current password, from a password login (never a personal access token).
    409 `owns_shared_boards`, naming them in `boards`, while you own a board that has other
    members. Boards you own alone are deleted, you leave every other board, and every login,
    token and live connection of yours ends; what you wrote stays, signed "Deleted user"."""
    await _limit_password_checks(actor)
    await runtime().services.accounts.delete(actor, current_password=data.current_password)
    _clear_refresh_cookie()
    return Response(status=204)
