"""/auth and /users/me."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import security_scheme, tag_blueprint, validate_request, validate_response

from taskflow.http.runtime import authenticated, client_address, runtime
from taskflow.http.schemas import (
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


async def _limit_address() -> None:
    rt = runtime()
    await rt.limit(rt.settings.rate_limits.auth_per_address, "auth-address", client_address())


@blueprint.post("/auth/register")
@security_scheme(PUBLIC)
@validate_request(RegisterIn)
@validate_response(SessionOut, 201)
async def register(data: RegisterIn) -> tuple[dict[str, object], int]:
    """Create an account (and its personal board); signs in."""
    await _limit_address()
    session = await runtime().services.auth.register(email=data.email, password=data.password,
                                                     name=data.name)
    return session.view(), 201


@blueprint.post("/auth/login")
@security_scheme(PUBLIC)
@validate_request(LoginIn)
@validate_response(SessionOut, 200)
async def login(data: LoginIn) -> dict[str, object]:
    """Sign in; 429 after repeated attempts on one account or from one address."""
    rt = runtime()
    await _limit_address()
    await rt.limit(rt.settings.rate_limits.login_per_account, "login-account",
                         data.email.casefold())
    session = await rt.services.auth.login(email=data.email, password=data.password)
    return session.view()


@blueprint.post("/auth/refresh")
@security_scheme(PUBLIC)
@validate_request(RefreshIn)
@validate_response(SessionOut, 200)
async def refresh(data: RefreshIn) -> dict[str, object]:
    """Trade a refresh token for new tokens; the old one is spent."""
    await _limit_address()
    return (await runtime().services.auth.refresh(data.refresh_token)).view()


@blueprint.post("/auth/logout")
@authenticated
@validate_request(RefreshIn)
async def logout(data: RefreshIn, actor: Actor) -> Response:
    """End this login: its refresh tokens and live connections."""
    await runtime().services.auth.logout(actor, data.refresh_token)
    return Response(status=204)


@blueprint.get("/users/me")
@authenticated
@validate_response(UserOut, 200)
async def get_me(actor: Actor) -> dict[str, object]:
    return user_view(await runtime().services.auth.me(actor))


@blueprint.patch("/users/me")
@authenticated
@validate_request(ProfilePatch)
@validate_response(UserOut, 200)
async def patch_me(data: ProfilePatch, actor: Actor) -> dict[str, object]:
    """Change name, email or password (the last two need current_password)."""
    user = await runtime().services.auth.update_me(
        actor, name=data.name, email=data.email, password=data.password,
        current_password=data.current_password,
    )
    return user_view(user)
