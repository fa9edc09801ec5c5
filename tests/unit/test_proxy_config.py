"""The proxy's nginx.conf as text: prefix stripping, longest prefix, health, determinism."""

from __future__ import annotations

import io
import re
import tarfile

import pytest

from workbench import proxy
from workbench.errors import BadInput
from workbench.proxy import Route, config_id, render

ORDERS = Route("/orders", "orders", "wb-shop-prod-orders-1a2b", 8000)
V2 = Route("/orders/v2/", "orders-v2", "wb-shop-prod-orders-v2-9f", 8080)
SITE = Route("/site", "site", "wb-shop-prod-site-77", 80)


def blocks(text: str) -> dict[str, str]:
    """Each ``location`` of the config: its match (e.g. "= /orders") and its body."""
    found = re.findall(r"^ {8}location (.+?) \{[^\n]*\n(.*?)^ {8}\}", text, re.M | re.S)
    return dict(found)


def target(text: str, uri: str) -> str:
    """Where nginx sends ``uri``: an exact location wins, else the longest prefix; the
    upstream ``host:port`` and the path it is given there (or the status the proxy answers)."""
    locations = blocks(text)
    if f"= {uri}" in locations:
        body = locations[f"= {uri}"]
    else:
        prefixes = [m for m in locations if not m.startswith("=") and uri.startswith(m)]
        body = locations[max(prefixes, key=len)]
    answered = re.search(r"return (\d+)", body)
    if answered:
        return answered.group(1)
    upstream = re.search(r"set \$wb_upstream (\S+);", body)
    rewrite = re.search(r"rewrite (\S+) (\S+) break;", body)
    assert upstream and rewrite and "proxy_pass http://$wb_upstream;" in body
    found = re.search(rewrite.group(1), uri)  # nginx: a match makes the URI the replacement
    assert found
    path = re.sub(r"\$(\d)", lambda m: found.group(int(m.group(1))), rewrite.group(2))
    return f"{upstream.group(1)}{path}"


def test_a_route_strips_its_prefix_both_with_and_without_a_slash() -> None:
    text = render("shop", "prod", [ORDERS])
    locations = blocks(text)
    assert set(locations) == {"= /_workbench/health", "= /orders", "/orders/", "/"}
    for match in ("= /orders", "/orders/"):
        assert "set $wb_upstream wb-shop-prod-orders-1a2b:8000;" in locations[match]
        assert "proxy_set_header X-Forwarded-Prefix /orders;" in locations[match]
    assert target(text, "/orders") == "wb-shop-prod-orders-1a2b:8000/"
    assert target(text, "/orders/items/7") == "wb-shop-prod-orders-1a2b:8000/items/7"


def test_every_location_sets_every_header() -> None:
    # proxy_set_header is not inherited by a level that sets one: each location sets them all.
    for match, body in blocks(render("shop", "prod", [ORDERS, SITE])).items():
        if "proxy_pass" not in body:
            continue
        for header in ("Host $wb_host", "X-Forwarded-For $proxy_add_x_forwarded_for",
                       "X-Forwarded-Proto $scheme", "X-Request-Id $wb_request_id",
                       "Connection $wb_connection"):
            assert f"proxy_set_header {header};" in body, (match, header)


def test_upstreams_are_resolved_per_request_through_dockers_dns() -> None:
    """A container Docker restarted in place with another address is found again (a name
    resolved when nginx loads its config kept the old address until the next deploy)."""
    text = render("shop", "prod", [ORDERS, SITE])
    assert "proxy_http_version 1.1;" in text
    assert "resolver 127.0.0.11 valid=1s ipv6=off;" in text
    assert "    upstream " not in text and "keepalive 16;" not in text
    assert text.count("proxy_pass http://$wb_upstream;") == 4  # two locations per route
    assert "proxy_next_upstream error timeout;" in text  # a connection that failed, not a request
    assert re.search(r"proxy_connect_timeout \d+s;", text)
    assert re.search(r"proxy_read_timeout \d+s;", text)


def test_longest_prefix_wins() -> None:
    text = render("shop", "prod", [V2, ORDERS, SITE])
    assert target(text, "/orders/v2/items") == "wb-shop-prod-orders-v2-9f:8080/items"
    assert target(text, "/orders/v2") == "wb-shop-prod-orders-v2-9f:8080/"
    assert target(text, "/orders/v2x") == "wb-shop-prod-orders-1a2b:8000/v2x"
    assert target(text, "/orders/1") == "wb-shop-prod-orders-1a2b:8000/1"
    assert target(text, "/orders") == "wb-shop-prod-orders-1a2b:8000/"
    assert target(text, "/ordersx") == "404"
    assert target(text, "/site/index.html") == "wb-shop-prod-site-77:80/index.html"


def test_health_and_unknown_paths_are_answered_by_the_proxy() -> None:
    text = render("shop", "prod", [])
    locations = blocks(text)
    health = locations["= /_workbench/health"]
    assert 'return 200 "ok\\n";' in health
    assert f'add_header X-Workbench-Config "{config_id(text)}" always;' in health
    assert "return 404 '{\"error\": \"not found\"" in locations["/"]
    assert "default_type application/json;" in locations["/"]


def test_the_config_stands_alone() -> None:
    text = render("shop", "prod", [ORDERS])
    assert "include" not in text and "load_module" not in text
    assert f"pid {proxy.PID_PATH};" in text
    assert "access_log /dev/stdout workbench;" in text
    assert "error_log stderr" in text
    assert f"listen {proxy.LISTEN_PORT} default_server;" in text
    assert "daemon" not in text  # given on the command line: -g 'daemon off;'
    assert "resolver 127.0.0.11 " in text  # Docker's DNS, in the container


def test_render_is_deterministic_and_identified() -> None:
    one = render("shop", "prod", [ORDERS, SITE, V2])
    assert one == render("shop", "prod", [V2, SITE, ORDERS, ORDERS])
    assert config_id(one) and re.fullmatch(r"[0-9a-f]{12}", config_id(one) or "")
    assert config_id(render("shop", "prod", [ORDERS])) != config_id(one)
    assert config_id(render("shop", "staging", [ORDERS, SITE, V2])) != config_id(one)
    assert config_id("no id here") is None
    assert render("shop", "prod", [Route("/orders/", "orders", ORDERS.upstream_host, 8000)]) \
        == render("shop", "prod", [ORDERS])


@pytest.mark.parametrize(("route", "message"), [
    (Route("/", "web", "web", 80), "not a path prefix"),
    (Route("orders", "web", "web", 80), "not a path prefix"),
    (Route("/a b", "web", "web", 80), "not a path prefix"),
    (Route("/a/../b", "web", "web", 80), "not a path prefix"),
    (Route("/a;", "web", "web", 80), "not a path prefix"),
    (Route("/a", "web", "web;evil", 80), "bad upstream"),
    (Route("/a", "web", "web", 0), "bad port"),
    (Route("/a", "web", "web", 70000), "bad port"),
])
def test_bad_routes_are_refused(route: Route, message: str) -> None:
    with pytest.raises(BadInput, match=re.escape(message)):
        render("shop", "prod", [route])


def test_a_prefix_claimed_twice_is_refused() -> None:
    with pytest.raises(BadInput, match="route /orders is claimed by endpoint 'orders' and by "
                                       "endpoint 'other'"):
        render("shop", "prod", [ORDERS, Route("/orders/", "other", "wb-other", 8000)])


def test_nginx_errors_are_one_line() -> None:
    output = ('2026/11/22 03:48:39 [emerg] 7#7: host not found in upstream "bill:9000" in '
              "/etc/workbench/nginx.conf.new-1:45\n"
              "nginx: configuration file /etc/workbench/nginx.conf.new-1 test failed\n")
    assert proxy._nginx_error(output) == ('host not found in upstream "bill:9000" in '
                                         "/etc/workbench/nginx.conf.new-1:45")
    assert proxy._nginx_error('nginx: [emerg] unknown directive "x" in /c:3\n') == \
        'unknown directive "x" in /c:3'
    assert proxy._nginx_error("mv: cannot move\n") == "mv: cannot move"
    assert proxy._nginx_error("") == "no output"


def test_config_archives_hold_their_folders() -> None:
    data = proxy._tar({"workbench/nginx.conf": "events {}\n"})
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert members["workbench"].isdir()
        conf = members["workbench/nginx.conf"]
        assert conf.mode == 0o644
        assert tar.extractfile(conf).read() == b"events {}\n"  # type: ignore[union-attr]


def test_a_trailing_newline_is_no_valid_upstream_or_prefix() -> None:
    for route in (Route("/orders\n", "orders", "up", 8000),
                  Route("/orders", "orders", "up\n", 8000)):
        with pytest.raises(BadInput):
            render("shop", "prod", [route])
