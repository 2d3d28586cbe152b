"""The defences of the local UI, checked over raw HTTP against the real ``petition ui``.

Strict headers on every answer; no other host referenced by any page; the loopback address
only; a request with a foreign ``Host`` (DNS rebinding), without the launch secret or without
the CSRF token is refused before anything happens. Every POST, refused or not, is answered by
a redirect (303), never by a page: a browser keeps the body of a POST answered by a page.
"""

from __future__ import annotations

import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from deployment import Deployment
from local_app import Answer
from local_app import http_request as _request

from webui.security import CONTENT_SECURITY_POLICY

#: Drives Debian's Chromium: slow; CI runs it (README, Tests).
pytestmark = pytest.mark.browser

if TYPE_CHECKING:
    from tests.ui.conftest import RunningUi

EXPECTED_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
URL = re.compile(r"""(?:https?:)?//[^\s"'<>)]+""", re.IGNORECASE)
LOOPBACK_HOSTS = {"127.0.0.1", "localhost"}


def _refused(answer: Answer, kind: str) -> None:
    """A POST refused as a browser must see it: a redirect to the page that explains."""
    assert answer.status == 303, (answer.status, answer.body[:200])
    assert answer.headers["Location"] == f"/refused/{kind}"
    assert answer.body == "" or "<form" not in answer.body


def _follow(ui: RunningUi, answer: Answer, cookie: str | None) -> Answer:
    assert answer.status == 303, (answer.status, answer.body[:200])
    return _request(ui, "GET", answer.headers["Location"], cookie=cookie)


def _launch(ui: RunningUi) -> str:
    """Open the first URL as a browser does; return the session cookie it sets."""
    answer = _request(ui, "GET", f"/?key={ui.launch_key}")
    assert answer.status == 303
    assert answer.headers["Location"] == "/"
    cookie = SimpleCookie(answer.headers["Set-Cookie"])
    return cookie["petition_ui_session"].value


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page)
    assert found is not None
    return found.group(1)


@pytest.fixture
def cookie(ui: RunningUi) -> str:
    return _launch(ui)


def test_the_address_is_loopback_only_with_a_launch_secret(ui: RunningUi) -> None:
    assert ui.launch_url.startswith(f"http://127.0.0.1:{ui.port}/?key=")
    assert len(ui.launch_key) >= 43  # 32 random bytes
    # The kernel's own table: the listening socket is bound to 127.0.0.1, nothing else.
    listening = [
        line.split()[1]
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if line.split()[3] == "0A" and int(line.split()[1].split(":")[1], 16) == ui.port
    ]
    assert listening == [f"0100007F:{ui.port:04X}"]
    assert not [
        line
        for line in Path("/proc/net/tcp6").read_text().splitlines()[1:]
        if line.split()[3] == "0A" and int(line.split()[1].split(":")[1], 16) == ui.port
    ]


def test_the_first_url_sets_a_strict_cookie(ui: RunningUi) -> None:
    answer = _request(ui, "GET", f"/?key={ui.launch_key}")
    set_cookie = answer.headers["Set-Cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in set_cookie.split(";")}
    assert {"httponly", "path"} <= attributes
    assert "SameSite=Strict" in set_cookie
    assert "expires" not in attributes  # gone when the browser closes
    assert "max-age" not in attributes
    assert ui.launch_key not in set_cookie


def _pages(ui: RunningUi, cookie: str) -> dict[str, Answer]:
    """Every page a GET can reach, and the refusals, as the browser would fetch them."""
    no_csrf = _request(ui, "POST", "/status", cookie=cookie, form={"code": "x"})
    answers = {
        "index": _request(ui, "GET", "/", cookie=cookie),
        "status": _request(ui, "GET", "/status", cookie=cookie),
        "css": _request(ui, "GET", "/static/style.css", cookie=cookie),
        "not found": _request(ui, "GET", "/receipt/nothing", cookie=cookie),
        "no secret": _request(ui, "GET", "/"),
        "foreign host": _request(ui, "GET", "/", host="evil.example", cookie=cookie),
        "no csrf (post)": no_csrf,
        "no csrf": _follow(ui, no_csrf, cookie),
    }
    new = _request(ui, "GET", "/write?bureau=national", cookie=cookie)
    assert new.status == 303
    draft = new.headers["Location"]
    answers["write"] = _request(ui, "GET", draft, cookie=cookie)
    answers["too large (post)"] = _request(
        ui,
        "POST",
        "/write",
        cookie=cookie,
        headers={
            "Content-Length": str(64 * 1024 * 1024),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    answers["too large"] = _follow(ui, answers["too large (post)"], cookie)
    return answers


def test_every_answer_carries_the_strict_headers(ui: RunningUi, cookie: str) -> None:
    assert CONTENT_SECURITY_POLICY == EXPECTED_CSP
    pages = _pages(ui, cookie)
    assert {name: answer.status for name, answer in pages.items()} == {
        "index": 200, "status": 200, "css": 200, "write": 200, "not found": 404,
        "no secret": 403, "foreign host": 421, "no csrf (post)": 303, "no csrf": 403,
        "too large (post)": 303, "too large": 413,
    }  # fmt: skip
    _refused(pages["no csrf (post)"], "csrf")
    _refused(pages["too large (post)"], "413")
    for name, answer in pages.items():
        headers = answer.headers
        assert headers["Content-Security-Policy"] == EXPECTED_CSP, name
        assert headers["X-Frame-Options"] == "DENY", name
        assert headers["Referrer-Policy"] == "no-referrer", name
        assert headers["Cache-Control"] == "no-store", name
        assert headers["X-Content-Type-Options"] == "nosniff", name
        assert "Werkzeug" not in headers.get("Server", ""), name
        assert "Python" not in headers.get("Server", ""), name


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []
        self.tags: set[str] = set()
        self.attributes: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            self.attributes.add(name)
            if name in {"href", "src", "action", "srcset", "formaction", "poster", "data"}:
                self.references.append(value or "")


def test_no_page_references_another_host_or_runs_script(ui: RunningUi, cookie: str) -> None:
    for name, answer in _pages(ui, cookie).items():
        for url in URL.findall(answer.body):
            host = urlsplit(url if ":" in url.split("//")[0] else "http:" + url).hostname
            assert host in LOOPBACK_HOSTS, (name, url)
        if name == "css":
            assert "@import" not in answer.body
            assert "url(" not in answer.body
            continue
        parser = _References()
        parser.feed(answer.body)
        for reference in parser.references:
            assert reference.startswith(("/", "#", "data:")), (name, reference)
            assert not reference.startswith("//"), (name, reference)
        assert "script" not in parser.tags, name
        assert "style" not in parser.tags, name
        assert "iframe" not in parser.tags, name
        assert "style" not in parser.attributes, name  # no inline style (the CSP forbids it)
        assert not {a for a in parser.attributes if a.startswith("on")}, name  # no handlers


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:{port}", "127.0.0.1", "127.0.0.1:1", "localhost.evil:{port}",
     "127.0.0.1:{port}.evil.example", "[::1]:{port}"],
)  # fmt: skip
def test_a_foreign_host_header_is_refused(ui: RunningUi, cookie: str, host: str) -> None:
    """DNS rebinding: a page whose name now points at 127.0.0.1 sends its own name."""
    foreign = host.format(port=ui.port)
    answer = _request(ui, "GET", "/", host=foreign, cookie=cookie)
    assert answer.status == 421
    assert "国家信访局" not in answer.body
    # Even with the launch secret it opens no session.
    launch = _request(ui, "GET", f"/?key={ui.launch_key}", host=foreign)
    assert launch.status == 421
    assert "Set-Cookie" not in launch.headers
    posted = _request(ui, "POST", "/status", host=foreign, cookie=cookie, form={"code": "1"})
    _refused(posted, "421")
    assert _request(ui, "GET", "/refused/421", host=foreign, cookie=cookie).status == 421


def test_localhost_is_accepted_as_well(ui: RunningUi, cookie: str) -> None:
    assert _request(ui, "GET", "/", host=f"localhost:{ui.port}", cookie=cookie).status == 200


@pytest.mark.parametrize("target", ["/", "/status", "/static/style.css", "/write?bureau=national"])
def test_without_the_launch_secret_nothing_is_served(ui: RunningUi, target: str) -> None:
    for cookie in [None, "", secrets.token_urlsafe(24)]:
        answer = _request(ui, "GET", target, cookie=cookie)
        assert answer.status == 403
        assert "petition ui" in answer.body  # says where the right address is
        assert "国家信访局" not in answer.body
        assert "csrf_token" not in answer.body
    wrong = _request(ui, "GET", f"/?key={secrets.token_urlsafe(32)}")
    assert wrong.status == 403
    assert "Set-Cookie" not in wrong.headers
    truncated = _request(ui, "GET", f"/?key={ui.launch_key[:-1]}")
    assert truncated.status == 403
    posted = _request(ui, "POST", "/status", form={"code": "1"})
    _refused(posted, "403")
    followed = _follow(ui, posted, None)
    assert followed.status == 403
    assert "petition ui" in followed.body


def test_a_post_without_the_csrf_token_is_refused(ui: RunningUi, cookie: str) -> None:
    token = _csrf(_request(ui, "GET", "/status", cookie=cookie).body)
    other_token = _csrf(_request(ui, "GET", "/status", cookie=_launch(ui)).body)
    assert other_token != token  # bound to the session
    draft = _request(ui, "GET", "/write?bureau=national", cookie=cookie).headers["Location"]
    draft_id = draft.split("draft=")[1]
    forms = {
        "/status": {"code": "1000-0000-0000-0000-0000-0000-000Y"},
        "/write": {"draft": draft_id, "real_name": "张三", "action": "save"},
        "/submit": {"draft": draft_id},
    }
    for target, form in forms.items():
        for bad in [{}, {"csrf_token": ""}, {"csrf_token": other_token},
                    {"csrf_token": token[:-1] + ("0" if token[-1] != "0" else "1")}]:  # fmt: skip
            answer = _request(ui, "POST", target, cookie=cookie, form={**form, **bad})
            _refused(answer, "csrf")
            refusal = _follow(ui, answer, cookie)
            assert refusal.status == 403, (target, bad)
            assert "表单未被接受" in refusal.body or "Form not accepted" in refusal.body
        # The right token from a page of another site is refused too.
        for headers in [{"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}]:
            answer = _request(
                ui, "POST", target, cookie=cookie, form={**form, "csrf_token": token},
                headers=headers,
            )  # fmt: skip
            _refused(answer, "csrf")
    # Nothing was done: the draft is still empty.
    page = _request(ui, "GET", draft, cookie=cookie).body
    assert 'value=""' in page.split('id="real_name"')[1].split(">")[0]
    # With the token, the same post goes through (an unknown code: a plain message, on the page
    # the redirect leads to, once; the code is not put back into the form).
    answer = _request(ui, "POST", "/status", cookie=cookie, form={**forms["/status"],
                      "csrf_token": token})  # fmt: skip
    assert answer.status == 303
    assert re.fullmatch(r"/status\?once=[\w-]+", answer.headers["Location"])
    assert "1000" not in answer.headers["Location"]
    shown = _follow(ui, answer, cookie)
    assert shown.status == 400
    assert "回执码" in shown.body
    assert "1000-0000" not in shown.body
    again = _request(ui, "GET", answer.headers["Location"], cookie=cookie)
    assert again.status == 200
    assert 'id="status-error"' not in again.body  # shown once, then dropped


def test_the_launch_secret_is_never_logged(ui: RunningUi) -> None:
    _launch(ui)
    assert ui.launch_key not in ui.stderr()
    assert "GET /" not in ui.stderr()


def test_two_clicks_on_submit_make_one_petition(ui: RunningUi, deployment: Deployment) -> None:
    """A double click sends two POSTs at once: the second waits for the first's receipt."""
    cookie = _launch(ui)
    draft = _request(ui, "GET", "/write?bureau=national", cookie=cookie).headers["Location"]
    token = _csrf(_request(ui, "GET", draft, cookie=cookie).body)
    draft_id = draft.split("draft=")[1]
    fields = {
        "real_name": "赵六", "id_number": "110101199003071751", "contact": "",
        "subject": "双击提交", "category": "其他", "region": "北京",
        "body": "只应提交一次。", "action": "review",
    }  # fmt: skip
    saved = _request(ui, "POST", "/write", cookie=cookie,
                     form={**fields, "draft": draft_id, "csrf_token": token})  # fmt: skip
    assert saved.status == 303, saved.body
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(
            lambda _: _request(ui, "POST", "/submit", cookie=cookie,
                               form={"draft": draft_id, "csrf_token": token}),
            range(2),
        ))  # fmt: skip
    assert [answer.status for answer in answers] == [303, 303]
    # Both go to the same receipt, each with its own one-time view of the code: the browser
    # shows the answer to the second click.
    locations = {answer.headers["Location"].split("?")[0] for answer in answers}
    assert len(locations) == 1
    assert locations.pop().startswith("/receipt/")
    assert all("?view=" in answer.headers["Location"] for answer in answers)
    receipt = _request(ui, "GET", answers[0].headers["Location"], cookie=cookie).body
    found = re.search(r'id="petition-id">([0-9a-f]{32})<', receipt)
    assert found is not None
    inbox = deployment.ok("bureau", "bureau", "inbox", "--no-open", *deployment.bureau_flags())
    assert inbox.count(found.group(1)) == 1


def test_every_post_is_answered_by_a_redirect(ui: RunningUi, cookie: str) -> None:
    """Whatever a form brings (an ID error, a save, an unknown draft or receipt, a status
    lookup, a wrong method), the answer is a 303 and its target names no typed value."""
    token = _csrf(_request(ui, "GET", "/status", cookie=cookie).body)
    draft = _request(ui, "GET", "/write?bureau=national", cookie=cookie).headers["Location"]
    draft_id = draft.split("draft=")[1]
    typed = {
        "real_name": "钱七", "id_number": "110101199003071752", "contact": "电话 123",
        "subject": "重定向检查", "category": "其他", "region": "北京", "respondent": "某单位",
        "body": "这段正文不能出现在任何地址里。", "consent_contact": "no",
    }  # fmt: skip
    posts = {
        "id error": ("/write", {**typed, "draft": draft_id, "action": "review"}),
        "save": ("/write", {**typed, "draft": draft_id, "action": "save"}),
        "unknown draft": ("/write", {**typed, "draft": "nothing", "action": "review"}),
        "submit unknown": ("/submit", {"draft": "nothing"}),
        "status empty": ("/status", {"code": ""}),
        "status code": ("/status", {"code": "1000-0000-0000-0000-0000-0000-000Y"}),
        "download unknown": ("/receipt/nothing/download", {"passphrase": "x" * 20}),
        "show unknown": ("/receipt/nothing/show", {}),
        "forget": ("/receipt/nothing/forget", {}),
        "wrong method": ("/", {}),
        "no route": ("/nowhere", {}),
    }
    for name, (target, form) in posts.items():
        answer = _request(ui, "POST", target, cookie=cookie, form={**form, "csrf_token": token})
        assert answer.status == 303, (name, answer.status, answer.body[:300])
        location = answer.headers["Location"]
        assert "Allow" not in answer.headers, name
        for value in [*(v for k, v in typed.items() if not k.startswith("consent")), "1000-0000"]:
            assert value not in location, (name, location)
            assert value not in answer.body, (name, value)
        shown = _follow(ui, answer, cookie)
        assert shown.status in {200, 400, 403, 404, 405}, (name, shown.status)
        assert shown.headers["Cache-Control"] == "no-store", name
    # After the ID error, the form shows the typed text again, but not the ID number.
    answer = _request(ui, "POST", "/write", cookie=cookie,
                      form={**posts["id error"][1], "csrf_token": token})  # fmt: skip
    page = _follow(ui, answer, cookie).body
    assert typed["body"] in page
    assert typed["respondent"] in page
    assert typed["id_number"] not in page
    assert 'id="consent_contact-no" value="no" checked' in page
    # Shown once: the same address again shows the form without the error.
    assert 'aria-invalid="true"' not in _request(ui, "GET", answer.headers["Location"],
                                                 cookie=cookie).body  # fmt: skip
