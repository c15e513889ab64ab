"""The dashboard's pages and forms, under ``/dashboard``: server-side Jinja2 templates over the store.

Actions call the API's own code, so the dashboard and ``/v1`` cannot disagree: the replay button runs
``smelend.api.routers.decisions.replay_decision`` and the review buttons ``review_decision`` (same
checks, same audit records naming ``staff:ID``), and a decision is shown through the API's
``decision_out`` (personal data masked).
"""

from __future__ import annotations

import hmac
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from smelend.api.errors import ApiError
from smelend.api.routers import decisions as api_decisions
from smelend.api.routers.common import service
from smelend.api.schemas import ReviewIn
from smelend.errors import InvalidInput
from smelend.money import format_yuan
from smelend.store import audit as audit_store
from smelend.store import origination
from smelend.store import web_sessions
from smelend.store.db import reading
from smelend.web import auth, charts, search
from smelend.web.access import allowed, navigation
from smelend.web.portfolio import portfolio as read_portfolio

HERE = Path(__file__).parent
AUDIT_PAGE_ROWS = 100
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

router = APIRouter(prefix="/dashboard", include_in_schema=False)
templates = Jinja2Templates(directory=str(HERE / "templates"))


def yuan(fen: int) -> str:
    """Fen as yuan with thousands separators, exact: 123456789 -> '1,234,567.89'."""
    return f"{Decimal(format_yuan(fen)):,.2f}"


def percent(value: Decimal | float | str | None) -> str:
    return "" if value is None else f"{Decimal(str(value)) * 100:.2f}%"


def chart_json(figure: str) -> str:
    """A figure's JSON made safe inside a <script> block."""
    return figure.replace("</", "<\\/")


templates.env.filters.update(yuan=yuan, percent=percent, chart_json=chart_json)
templates.env.filters["pretty"] = lambda value: json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)


def render(request: Request, template: str, status: int = 200, session: web_sessions.Session | None = None, **context: Any) -> HTMLResponse:
    context |= {"session": session, "nav": navigation(session.role) if session else [], "allowed": allowed}
    response = templates.TemplateResponse(request, template, context, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def redirect(path: str) -> RedirectResponse:
    response = RedirectResponse(path, status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response


def install(app: Any) -> None:
    """Add the dashboard to the API's FastAPI app: routes, static files and its error pages."""
    app.include_router(router)

    @app.exception_handler(auth.LoginRequired)
    async def _login_required(request: Request, exc: auth.LoginRequired) -> Response:
        from urllib.parse import quote

        return redirect(f"/dashboard/login?next={quote(auth.safe_next(exc.next_path), safe='/')}")

    @app.exception_handler(auth.PageForbidden)
    async def _forbidden(request: Request, exc: auth.PageForbidden) -> Response:
        return render(request, "error.html", 403, exc.session, title="Not for your role",
                      message=f"The {exc.page} page is not available to the {exc.session.role} role.")

    @app.exception_handler(auth.CsrfFailed)
    async def _csrf(request: Request, exc: auth.CsrfFailed) -> Response:
        return render(request, "error.html", 403, None, title="Form refused", message=exc.reason)


# --- static files -------------------------------------------------------------------------------------


@router.get("/static/plotly.min.js")
def plotly_js() -> FileResponse:
    return FileResponse(charts.PLOTLY_JS, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    media = {"style.css": "text/css", "charts.js": "text/javascript"}
    if name not in media:
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(HERE / "static" / name, media_type=media[name], headers={"Cache-Control": "public, max-age=3600"})


# --- login and logout ---------------------------------------------------------------------------------


def _login_page(request: Request, status: int = 200, error: str | None = None, name: str = "", next_path: str = "/dashboard/") -> HTMLResponse:
    token = auth.new_login_csrf()
    response = render(request, "login.html", status, None, title="Sign in", csrf=token, error=error, name=name, next_path=auth.safe_next(next_path))
    response.set_cookie(auth.LOGIN_CSRF_COOKIE, token, max_age=3600, path=auth.COOKIE_PATH, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "/dashboard/") -> Response:
    if await auth.current_session(request) is not None:
        return redirect(auth.safe_next(next))
    return _login_page(request, next_path=next)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, name: str = Form(""), password: str = Form(""), csrf_token: str = Form(""), next: str = Form("/dashboard/")) -> Response:
    auth.check_login_csrf(request, csrf_token)
    wait = auth.login_limiter(request).check(f"login:{auth.client_address(request)}", auth.LOGIN_ATTEMPTS_PER_MINUTE)
    if wait is not None:
        response = _login_page(request, 429, f"too many login attempts from this address; try again in {wait} seconds", name, next)
        response.headers["Retry-After"] = str(wait)
        return response
    if not name.strip() or not password:
        return _login_page(request, 422, "name and password are required", name, next)
    from smelend.web.login import attempt

    result = await run_in_threadpool(attempt, service(request).engine, name, password, auth.utcnow(), request.cookies.get(auth.SESSION_COOKIE))
    if result.cookie is None:
        return _login_page(request, 401, result.refusal, name, next)
    response = redirect(auth.safe_next(next))
    response.set_cookie(auth.SESSION_COOKIE, result.cookie, max_age=int(timedelta(hours=web_sessions.ABSOLUTE_HOURS).total_seconds()),
                        path=auth.COOKIE_PATH, httponly=True, samesite="strict", secure=request.url.scheme == "https")
    response.delete_cookie(auth.LOGIN_CSRF_COOKIE, path=auth.COOKIE_PATH)
    return response


@router.post("/logout")
async def logout(request: Request, csrf_token: str = Form("")) -> Response:
    auth.check_origin(request)
    session = await auth.current_session(request)
    if session is not None:
        if not csrf_token or not hmac.compare_digest(csrf_token.encode(), session.csrf_token.encode()):
            raise auth.CsrfFailed("the form's CSRF token does not match this session; reload the page and try again")

        def end() -> None:
            with service(request).engine.begin() as conn:
                web_sessions.end_session(conn, request.cookies.get(auth.SESSION_COOKIE))
                audit_store.record(conn, auth.principal_of(session).key, "dashboard.logout", "api_user", session.user_id, None, {"session": "ended"})

        await run_in_threadpool(end)
    response = redirect("/dashboard/login")
    response.delete_cookie(auth.SESSION_COOKIE, path=auth.COOKIE_PATH)
    return response


# --- pages --------------------------------------------------------------------------------------------


@router.get("", include_in_schema=False)
def root() -> Response:
    return redirect("/dashboard/")


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    session = await auth.page_session(request, None)
    return render(request, "home.html", session=session, title="Dashboard")


@router.get("/portfolio", response_class=HTMLResponse)
async def portfolio_page(request: Request) -> Response:
    session = await auth.page_session(request, "portfolio")
    figures = await run_in_threadpool(read_portfolio, service(request).book)
    return render(request, "portfolio.html", session=session, title="Portfolio", p=figures,
                  charts={"buckets": charts.buckets_chart(figures), "classification": charts.classification_chart(figures),
                          "vintages": charts.vintages_chart(figures)})


@router.get("/decisions", response_class=HTMLResponse)
async def decisions_page(request: Request) -> Response:
    session = await auth.page_session(request, "decisions")
    params = dict(request.query_params)
    try:
        query = search.parse_query(params)
    except InvalidInput as exc:
        return render(request, "decisions.html", 422, session, title="Decisions", params=params, errors=exc.errors, result=None,
                      outcomes=search.OUTCOMES, products=sorted(service(request).catalogue))

    def find() -> search.Result:
        with reading(service(request).engine) as conn:
            return search.search(conn, query)

    result = await run_in_threadpool(find)
    return render(request, "decisions.html", session=session, title="Decisions", params=params, errors=(), result=result,
                  outcomes=search.OUTCOMES, products=sorted(service(request).catalogue), scan_limit=search.SCAN_LIMIT)


async def _decision(request: Request, session: web_sessions.Session, decision_id: str, status: int = 200, **extra: Any) -> Response:
    principal = auth.principal_of(session)

    def read() -> dict[str, Any] | None:
        with reading(service(request).engine) as conn:
            try:
                return api_decisions.decision_out(api_decisions._readable(conn, principal, decision_id))
            except ApiError:
                return None

    shown = await run_in_threadpool(read) if search.ID_PATTERN.fullmatch(decision_id) else None
    if shown is None:
        return render(request, "error.html", 404, session, title="No such decision", message=f"There is no decision {decision_id}.")
    return render(request, "decision.html", status, session, title=f"Decision {decision_id}", d=shown, **extra)


@router.get("/decisions/{decision_id}", response_class=HTMLResponse)
async def decision_page(decision_id: str, request: Request) -> Response:
    session = await auth.page_session(request, "decisions")
    return await _decision(request, session, decision_id)


@router.post("/decisions/{decision_id}/replay", response_class=HTMLResponse)
async def replay(decision_id: str, request: Request, csrf_token: str = Form("")) -> Response:
    session = await auth.form_session(request, "replay", csrf_token)
    try:
        answer = await api_decisions.replay_decision(decision_id, request, auth.principal_of(session))
    except (ApiError, InvalidInput) as exc:
        return await _decision(request, session, decision_id, 409 if isinstance(exc, ApiError) else 422, action_error=_reason(exc))
    return await _decision(request, session, decision_id, replay=json.loads(bytes(answer.body)))


@router.get("/reviews", response_class=HTMLResponse)
async def reviews_page(request: Request) -> Response:
    session = await auth.page_session(request, "reviews")
    return await _reviews(request, session)


async def _reviews(request: Request, session: web_sessions.Session, status: int = 200, **extra: Any) -> Response:
    def read() -> list[dict[str, Any]]:
        with reading(service(request).engine) as conn:
            rows = origination.pending_reviews(conn)
            for row in rows:
                document = origination.get_decision(conn, row["id"])
                application = origination.get_application(conn, row["application_id"])
                assert document is not None and application is not None
                row["reasons"] = [r["code"] for r in document["document"]["reasons"]]
                row["product"] = application["product_id"]
                row["requested_fen"] = application["requested_fen"]
                row["channel"] = application["channel"]
            return rows

    rows = await run_in_threadpool(read)
    return render(request, "reviews.html", status, session, title="Referrals", rows=rows, may_review=allowed(session.role, "review"), **extra)


@router.post("/decisions/{decision_id}/review", response_class=HTMLResponse)
async def review(decision_id: str, request: Request, csrf_token: str = Form(""), outcome: str = Form(""), comment: str = Form("")) -> Response:
    session = await auth.form_session(request, "review", csrf_token)
    try:
        body = ReviewIn(outcome=outcome, comment=comment.strip())  # type: ignore[arg-type]
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0]) if exc.errors() else "outcome"
        return await _reviews(request, session, 422, action_error=f"{field}: " + ("write a comment" if field == "comment" else "approve or decline"))
    try:
        answer = await api_decisions.review_decision(decision_id, body, request, auth.principal_of(session))
    except (ApiError, InvalidInput) as exc:
        return await _reviews(request, session, 409 if isinstance(exc, ApiError) else 422, action_error=_reason(exc))
    done = json.loads(bytes(answer.body))
    return await _reviews(request, session, done_message=f"Decision {decision_id}: referral {body.outcome}d" + (f", offer {done['offer']['id']} made" if done.get("offer") else ""))


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(request: Request) -> Response:
    """Newest first, :data:`AUDIT_PAGE_ROWS` at a time; ``before`` pages back (rows with smaller ids)."""
    session = await auth.page_session(request, "audit")
    errors = []
    before: int | None = None
    raw_before, entity = request.query_params.get("before", "").strip(), request.query_params.get("entity", "").strip() or None
    if raw_before:
        try:
            before = int(raw_before)
            if not 1 <= before <= 2**62:
                raise ValueError
        except ValueError:
            errors.append(("before", "must be an audit row id"))
    if entity is not None and (len(entity) > audit_store.ENTITY_MAX_CHARS or not entity.replace("_", "").replace("-", "").replace(".", "").isalpha()):
        errors.append(("entity", "must be an entity name such as decision"))
    if errors:
        return render(request, "audit.html", 422, session, title="Audit log", errors=errors, rows=[], entity=entity, older=None, paged=True)

    def read() -> tuple[list[Any], int | None]:
        from sqlalchemy import select

        from smelend.store.tables import audit_log

        ids = select(audit_log.c.id).order_by(audit_log.c.id.desc()).limit(AUDIT_PAGE_ROWS + 1)
        if entity is not None:
            ids = ids.where(audit_log.c.entity == entity)
        if before is not None:
            ids = ids.where(audit_log.c.id < before)
        with reading(service(request).engine) as conn:
            found = list(conn.execute(ids).scalars())
            page_ids = found[:AUDIT_PAGE_ROWS]
            if not page_ids:
                return [], None
            # the same rows through the audit store's reader (decoded as the API returns them)
            rows = audit_store.list_audit(conn, limit=len(page_ids), after_id=page_ids[-1] - 1, entity=entity)
        assert [r.id for r in rows] == sorted(page_ids)
        return list(reversed(rows)), (page_ids[-1] if len(found) > AUDIT_PAGE_ROWS else None)

    rows, older = await run_in_threadpool(read)
    return render(request, "audit.html", session=session, title="Audit log", errors=[], rows=rows, entity=entity, older=older, paged=before is not None)


@router.get("/funnel", response_class=HTMLResponse)
async def funnel_page(request: Request) -> Response:
    from smelend.marketing.funnel import GROUPS
    from smelend.web import marketing

    session = await auth.page_session(request, "funnel")
    by = request.query_params.get("by", "").strip() or None
    if by is not None and by not in GROUPS:
        return render(request, "funnel.html", 422, session, title="Funnel and channels", m=None, groups=GROUPS, by=by,
                      error=f"by: must be one of {', '.join(GROUPS)}")
    figures = await run_in_threadpool(marketing.read, service(request).engine, by)
    shown = {}
    if figures is not None:
        shown = {"funnel": charts.funnel_chart([(s.step, s.count) for s in figures.overall.steps]),
                 "channels": charts.channels_chart([c.name for c in figures.channels], [c.spend_fen for c in figures.channels],
                                                   [c.margin_fen for c in figures.channels])}
    return render(request, "funnel.html", session=session, title="Funnel and channels", m=figures, groups=GROUPS, by=by, error=None, charts=shown)


@router.get("/segments", response_class=HTMLResponse)
async def segments_page(request: Request) -> Response:
    from smelend.web import segments

    session = await auth.page_session(request, "segments")
    engine = service(request).engine
    recorded = await run_in_threadpool(segments.runs, engine)
    wanted = request.query_params.get("run", "").strip()
    chosen = next((r for r in recorded if r.name == wanted), None) if wanted else (recorded[0] if recorded else None)
    if wanted and chosen is None:
        return render(request, "segments.html", 404, session, title="Segments", runs=recorded, s=None, error=f"run: no segmentation run named {wanted!r}")
    found = None if chosen is None else await run_in_threadpool(segments.segmented, engine, chosen)
    chart = None if found is None else charts.segment_grid_chart(found.value_bands, found.risk_bands, found.cells)
    return render(request, "segments.html", session=session, title="Segments", runs=recorded, s=found, chart=chart, error=None)


@router.get("/strategy-runs", response_class=HTMLResponse)
async def strategy_runs_page(request: Request) -> Response:
    """The recorded strategy-lab runs; ``run`` (an id, default the newest) shows its strategies side by side."""
    from smelend.web import strategy_runs

    session = await auth.page_session(request, "strategy-runs")
    engine = service(request).engine
    recorded = await run_in_threadpool(strategy_runs.runs, engine)
    wanted = request.query_params.get("run", "").strip()
    if wanted and not (wanted.isdecimal() and len(wanted) <= 18):
        return render(request, "strategy_runs.html", 422, session, title="Strategy runs", runs=recorded, c=None, error="run: must be a run id")
    chosen = next((r for r in recorded if str(r.id) == wanted), None) if wanted else (recorded[0] if recorded else None)
    if wanted and chosen is None:
        return render(request, "strategy_runs.html", 404, session, title="Strategy runs", runs=recorded, c=None, error=f"run: no strategy run {wanted}")
    found = None if chosen is None else await run_in_threadpool(strategy_runs.compared, engine, chosen)
    return render(request, "strategy_runs.html", session=session, title="Strategy runs", runs=recorded, c=found, error=None)


def _reason(exc: ApiError | InvalidInput) -> str:
    return "; ".join(f"{e.field}: {e.reason}" for e in exc.errors)
