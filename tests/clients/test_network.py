"""The client's network layer through the real CLI: SOCKS proxies, surges, lost connections.

Everything here is real: a SOCKS5 proxy relaying real TCP (``socks_proxy``), an HTTP front that
drops connections or sheds load in front of the real server (``flaky_front``), the real server
started by ``petition serve``, and the ``petition`` program run as a subprocess. Each test that
needs another server URL (the front's, a name only the proxy knows, a dead port) pins it with
``petition init`` in a fresh state directory of its own.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from deployment import Deployment
from flaky_front import FlakyFront
from harness import free_port
from socks_proxy import ConnectRequest, Credentials, SocksProxy

from client.home import ClientHome
from client.petitioner import PetitionForm, Progress, submit_petition
from client.session import NetworkOptions, Session

#: Kills, stops or starves real processes: slow; CI runs it (README, Tests).
pytestmark = pytest.mark.fault

PETITION_ID = re.compile(r"petition id ([0-9a-f]{32})\b")
INBOX_LINE = re.compile(r"^\s+#\d+\s+([0-9a-f]{32})\s", re.MULTILINE)
RETRY_PREFIX = "petition: server not available ("
RETRY_LINE = re.compile(
    r"petition: server not available \((.+)\); trying again in (\d+\.\d) s \(try \d+\)"
)
ERROR_PREFIX = "petition: error: "
# A name no resolver knows (RFC 6761): only the SOCKS proxy, told what it means, can reach it.
PROXY_ONLY_NAME = "petition-server.invalid"

Result = subprocess.CompletedProcess[str]


# -- helpers ------------------------------------------------------------------------------------


def run_in(
    deployment: Deployment, home: Path, *args: str, env: dict[str, str] | None = None
) -> Result:
    """``petition ARGS`` with ``home`` as PETITION_HOME (a state directory of the test's own)."""
    return deployment.run("petitioner", *args, env={**(env or {}), "PETITION_HOME": str(home)})


def succeeded(result: Result) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def server_port(deployment: Deployment) -> int:
    port = urlsplit(deployment.url).port
    assert port is not None
    return port


def init(
    deployment: Deployment,
    home: Path,
    server: str,
    *extra: str,
    env: dict[str, str] | None = None,
) -> Result:
    return run_in(
        deployment, home, "init", "--server", server, "--trust", deployment.fingerprint, *extra,
        env=env,
    )  # fmt: skip


def submit(
    deployment: Deployment,
    home: Path,
    tmp_path: Path,
    *extra: str,
    env: dict[str, str] | None = None,
) -> Result:
    body = tmp_path / "body.txt"
    body.write_text("村口的路坏了三年，雨天无法通行，请求修缮。\n", encoding="utf-8")
    return run_in(
        deployment, home, "submit", "--bureau", "national", "--name", "张三",
        "--id-number", "11010519491231002X", "--contact", "138", "--subject", "修路",
        "--category", "交通", "--region", "北京", "--body-file", str(body), "--no-qr", *extra,
        env=env,
    )  # fmt: skip


def petition_id(stdout: str) -> str:
    found = PETITION_ID.search(stdout)
    assert found is not None, stdout
    return found.group(1)


def inbox_ids(deployment: Deployment) -> list[str]:
    """Every petition id in the bureau's inbox, read directly from the real server."""
    listing = deployment.ok(
        "bureau", "bureau", "inbox", *deployment.bureau_flags(), "--no-open", "--limit", "500"
    )
    return INBOX_LINE.findall(listing)


def retry_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith(RETRY_PREFIX)]


def retries(result: Result) -> list[tuple[str, float]]:
    """(reason, announced delay) of every retry line, each checked against the expected form."""
    found = []
    for line in retry_lines(result):
        match = RETRY_LINE.fullmatch(line)
        assert match is not None, line
        found.append((match.group(1), float(match.group(2))))
    return found


def retry_reasons(result: Result) -> list[str]:
    return [reason for reason, _ in retries(result)]


def retry_delays(result: Result) -> list[float]:
    return [delay for _, delay in retries(result)]


def failed_with_one_line(result: Result) -> str:
    """Exit 1 and exactly one error line, the last one on stderr, without a traceback."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith(ERROR_PREFIX)]
    assert len(errors) == 1, result.stderr
    assert lines[-1] == errors[0], result.stderr
    return errors[0]


def home_is_untouched(home: Path) -> bool:
    return not home.exists() or not any(home.iterdir())


# -- SOCKS ----------------------------------------------------------------------------------


def test_every_connection_goes_through_the_socks_proxy_with_the_name_resolved_remotely(
    deployment: Deployment, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    port = server_port(deployment)
    with SocksProxy() as proxy:
        pinned = succeeded(init(deployment, home, f"http://localhost:{port}", "--proxy", proxy.url))
        assert f"every connection goes through {proxy.url}" in pinned
        after_init = proxy.connection_count
        assert after_init >= 1

        # No --proxy from here on: init remembered it.
        listing = succeeded(run_in(deployment, home, "bureaus"))
        assert "national" in listing
        after_bureaus = proxy.connection_count
        assert after_bureaus > after_init

        submitted = succeeded(submit(deployment, home, tmp_path))
        assert proxy.connection_count > after_bureaus
        connects = proxy.connects

    # socks5h: the client sent the host *name*; the proxy resolved it. Every connection the proxy
    # accepted carried exactly one such CONNECT, to the server and nowhere else.
    assert connects
    assert set(connects) == {ConnectRequest("domain", "localhost", port)}
    assert len(connects) == proxy.connection_count
    assert inbox_ids(deployment).count(petition_id(submitted)) == 1

    # With the proxy gone the client fails instead of quietly connecting directly.
    direct = run_in(deployment, home, "bureaus", "--retries", "1")
    assert "connection through the proxy" in failed_with_one_line(direct)


def _credentials_of_each_run(
    proxy: SocksProxy, runs: list[Callable[[], object]]
) -> list[set[Credentials | None]]:
    """The distinct SOCKS credentials presented during each of ``runs``."""
    seen = []
    for run in runs:
        start = len(proxy.credentials)
        run()
        seen.append(set(proxy.credentials[start:]))
    return seen


def test_each_petition_gets_its_own_tor_circuit(deployment: Deployment, tmp_path: Path) -> None:
    """Fresh random SOCKS credentials per petition: Tor's IsolateSOCKSAuth gives each its own
    circuit. The directory fetch and the submission of one petition share one."""
    home = tmp_path / "home"
    with SocksProxy() as proxy:
        succeeded(init(deployment, home, deployment.url, "--proxy", proxy.url))
        runs = _credentials_of_each_run(
            proxy,
            [lambda: succeeded(submit(deployment, home, tmp_path)) for _ in range(2)],
        )
        connects = proxy.connects
    assert all(len(run) == 1 for run in runs), runs  # one circuit for a whole petition
    first, second = (run.pop() for run in runs)
    assert first is not None
    assert second is not None
    assert first != second
    assert first.username != second.username
    assert first.password != second.password
    assert len(first.username) == len(first.password) == 32  # 128 random bits each
    assert {c.host for c in connects} == {urlsplit(deployment.url).hostname}


def test_one_session_moves_to_a_new_circuit_after_each_petition(
    deployment: Deployment, tmp_path: Path
) -> None:
    """The library behind ``submit`` and ``petition ui``: two petitions through one session."""
    home = tmp_path / "home"
    succeeded(init(deployment, home, deployment.url))
    form = PetitionForm(
        bureau_id="national", real_name="张三", id_number="11010519491231002X",
        contact="138", subject="修路", body="村口的路坏了。", category="交通", region="北京",
    )  # fmt: skip
    state = ClientHome(home)
    proxy = SocksProxy().start()
    try:
        with Session(state, state.load_config(), NetworkOptions(proxy=proxy.url)) as session:
            runs = _credentials_of_each_run(
                proxy,
                [
                    lambda: session.directory(),
                    lambda: submit_petition(session, form, Progress()),
                    lambda: submit_petition(session, form, Progress()),
                ],
            )
            requests = list(session.transport.requests)
    finally:
        proxy.stop()
    directory, first, second = runs
    post = ("POST", "/v1/petitions")
    assert requests == [("GET", "/v1/directory"), post, post]
    # The directory's connection carried the first petition's credentials (kept alive, so
    # the first submission may not even have opened a connection of its own).
    assert len(directory) == 1
    assert first <= directory
    assert len(second) == 1
    assert second.isdisjoint(directory)


def test_credentials_in_the_proxy_url_are_kept(deployment: Deployment, tmp_path: Path) -> None:
    home = tmp_path / "home"
    with SocksProxy() as proxy:
        mine = f"socks5h://alice:wonderland@127.0.0.1:{proxy.port}"
        succeeded(init(deployment, home, deployment.url, "--proxy", mine))
        succeeded(submit(deployment, home, tmp_path))
        succeeded(submit(deployment, home, tmp_path))
        credentials = proxy.credentials
    assert len(credentials) >= 3
    assert set(credentials) == {Credentials("alice", "wonderland")}


def test_proxy_from_the_environment_reaches_a_name_only_the_proxy_can_resolve(
    deployment: Deployment, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    server = f"http://{PROXY_ONLY_NAME}:{server_port(deployment)}"
    with SocksProxy(hosts={PROXY_ONLY_NAME: "127.0.0.1"}) as proxy:
        # Without a proxy the name cannot be resolved: nothing to reach, nothing saved.
        direct = init(deployment, home, server, "--retries", "1")
        assert "cannot reach" in failed_with_one_line(direct)
        assert home_is_untouched(home)
        assert proxy.connection_count == 0

        pinned = init(deployment, home, server, env={"PETITION_PROXY": proxy.url})
        assert f"every connection goes through {proxy.url}" in succeeded(pinned)
        assert proxy.connection_count >= 1
        assert set(proxy.connects) == {
            ConnectRequest("domain", PROXY_ONLY_NAME, server_port(deployment))
        }


def test_proxy_from_the_environment_is_used_by_an_already_initialised_role(
    deployment: Deployment,
) -> None:
    with SocksProxy() as proxy:
        listing = deployment.run("petitioner", "bureaus", env={"PETITION_PROXY": proxy.url})
        assert "national" in succeeded(listing)
        assert proxy.connection_count >= 1
        host = urlsplit(deployment.url).hostname
        assert {c.host for c in proxy.connects} == {host}

        # The flag wins over the variable.
        flagged = deployment.run(
            "petitioner", "bureaus", "--proxy", proxy.url, env={"PETITION_PROXY": "http://x"}
        )
        assert "national" in succeeded(flagged)


@pytest.mark.parametrize("command", ["init", "bureaus"])
def test_a_proxy_that_is_not_socks_is_refused_in_one_line(
    deployment: Deployment, tmp_path: Path, command: str
) -> None:
    home = tmp_path / "home"
    if command == "init":
        result = init(deployment, home, deployment.url, "--proxy", "http://x")
        assert home_is_untouched(home)
    else:
        result = deployment.run("petitioner", "bureaus", "--proxy", "http://x")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"{ERROR_PREFIX}--proxy must look like socks5h://HOST:PORT "
        "(for Tor: socks5h://127.0.0.1:9050), not 'http://x'"
    ]


def test_a_proxy_that_is_not_running_is_one_line(deployment: Deployment, tmp_path: Path) -> None:
    dead = f"socks5h://127.0.0.1:{free_port()}"
    result = deployment.run("petitioner", "bureaus", "--proxy", dead, "--retries", "1")
    message = failed_with_one_line(result)
    assert f"connection through the proxy {dead} failed" in message
    assert result.stderr.splitlines() == [message]  # one try: no retry line either

    home = tmp_path / "home"
    pinned = init(deployment, home, deployment.url, "--proxy", dead, "--retries", "1")
    assert "connection through the proxy" in failed_with_one_line(pinned)
    assert home_is_untouched(home)


# -- what a submission sends ------------------------------------------------------------------


def test_a_submission_is_one_request_after_the_directory(
    deployment: Deployment, tmp_path: Path
) -> None:
    """No token round trip: the directory, then one POST with the envelope and a hash."""
    home = tmp_path / "home"
    with FlakyFront(deployment.url) as front:
        succeeded(init(deployment, home, front.url))
        pinned = len(front.requests)
        stdout = succeeded(submit(deployment, home, tmp_path))
        sent = front.requests[pinned:]
        posts = front.posts
    assert sent == [("GET", "/v1/directory"), ("POST", "/v1/petitions")]
    assert "requests sent: GET /v1/directory, POST /v1/petitions\n" in stdout
    (post,) = posts
    assert set(json.loads(post.body)) == {"envelope", "lookup_key_hash"}


# -- surges and lost connections -------------------------------------------------------------


def test_a_surge_is_ridden_out_by_resending_the_same_envelope(
    deployment: Deployment, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    before = inbox_ids(deployment)
    with FlakyFront(deployment.url, ["drop", "503", "503", "forward"]) as front:
        succeeded(init(deployment, home, front.url))
        result = submit(deployment, home, tmp_path)
        posts = front.posts

    stdout = succeeded(result)
    new_id = petition_id(stdout)
    assert retry_reasons(result) == ["the connection was dropped", "HTTP 503", "HTTP 503"]
    assert all(f"(try {n})" in line for n, line in enumerate(retry_lines(result), start=2))

    # Four arrivals of one and the same request: the envelope was resent, never sealed again.
    assert [post.action for post in posts] == ["drop", "503", "503", "forward"]
    assert len({post.body for post in posts}) == 1
    envelopes = {json.loads(post.body)["envelope"] for post in posts}
    assert len(envelopes) == 1
    # Retry-After: 1 was honoured after each 503.
    arrived = [post.arrived for post in posts]
    assert arrived[2] - arrived[1] >= 1.0
    assert arrived[3] - arrived[2] >= 1.0

    after = inbox_ids(deployment)
    assert len(after) == len(before) + 1
    assert after.count(new_id) == 1
    assert new_id not in before


def test_retry_after_is_honoured_for_503_and_429(deployment: Deployment, tmp_path: Path) -> None:
    # Retry-After: 2 is longer than the backoff of a first retry (at most 1 s) or a second one
    # (at most 2 s, plus the time a request takes): only a client that honours it waits this long.
    home = tmp_path / "home"
    with FlakyFront(deployment.url, ["503", "429", "forward"], retry_after=2) as front:
        succeeded(init(deployment, home, front.url))
        result = submit(deployment, home, tmp_path)
        posts = front.posts

    succeeded(result)
    assert retry_reasons(result) == ["HTTP 503", "HTTP 429"]
    assert all(delay >= 2.0 for delay in retry_delays(result)), result.stderr
    arrived = [post.arrived for post in posts]
    assert len(arrived) == 3
    assert arrived[1] - arrived[0] >= 2.0
    assert arrived[2] - arrived[1] >= 2.0


def test_an_answer_lost_on_the_way_back_does_not_make_a_second_petition(
    deployment: Deployment, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    before = inbox_ids(deployment)
    with FlakyFront(deployment.url, ["lose", "forward"]) as front:
        succeeded(init(deployment, home, front.url))
        result = submit(deployment, home, tmp_path)
        posts = front.posts

    stdout = succeeded(result)
    assert retry_reasons(result) == ["the connection was dropped"]
    assert [post.action for post in posts] == ["lose", "forward"]
    assert posts[0].body == posts[1].body
    # The server stored the first copy; the resent one is recognised, not stored again.
    assert "the server already had it: not stored twice" in stdout
    after = inbox_ids(deployment)
    assert len(after) == len(before) + 1
    assert after.count(petition_id(stdout)) == 1


def test_a_server_overloaded_for_good_is_one_line_after_the_tries_run_out(
    deployment: Deployment, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    before = inbox_ids(deployment)
    with FlakyFront(deployment.url, then="503") as front:
        succeeded(init(deployment, home, front.url))
        result = submit(deployment, home, tmp_path, "--retries", "3")
        posts = front.posts

    message = failed_with_one_line(result)
    assert "overloaded" in message
    assert "3 tries" in message
    assert len(retry_lines(result)) == 2
    assert all("(HTTP 503)" in line for line in retry_lines(result))
    assert "petition id" not in result.stdout
    assert len(posts) == 3  # bounded: exactly --retries tries
    assert inbox_ids(deployment) == before


def test_an_unreachable_server_is_one_line_and_nothing_is_saved(
    deployment: Deployment, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    dead = f"http://127.0.0.1:{free_port()}"
    result = init(deployment, home, dead, "--retries", "2")
    message = failed_with_one_line(result)
    assert message.startswith(f"{ERROR_PREFIX}cannot reach {dead} ")
    assert "after 2 tries" in message
    assert len(retry_lines(result)) == 1
    assert "(try 2)" in retry_lines(result)[0]
    assert home_is_untouched(home)


def test_retries_from_the_environment_and_the_flag_winning_over_it(
    deployment: Deployment, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    dead = f"http://127.0.0.1:{free_port()}"

    from_env = init(deployment, home, dead, env={"PETITION_RETRIES": "2"})
    assert "after 2 tries" in failed_with_one_line(from_env)
    assert len(retry_lines(from_env)) == 1

    flag_wins = init(deployment, home, dead, "--retries", "1", env={"PETITION_RETRIES": "5"})
    assert "after 1 try;" in failed_with_one_line(flag_wins)
    assert retry_lines(flag_wins) == []

    out_of_range = init(deployment, home, dead, env={"PETITION_RETRIES": "0"})
    assert "--retries must be between 1 and 100" in failed_with_one_line(out_of_range)
    assert home_is_untouched(home)
