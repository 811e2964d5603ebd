"""HostList: the allowlist entries settings spell (`host`, `host:port`, `*.domain`, `[v6]:port`)."""

import pytest

from core.hostlist import HostList

HOSTS = HostList.parse(
    [
        "hooks.internal",
        "127.0.0.1:9978",
        "*.replicate.delivery",
        "[::1]:8080",
        " Upper.Example. ",
        "",
        "fe80::1",
    ]
)


@pytest.mark.parametrize(
    ("host", "port", "allowed"),
    [
        ("hooks.internal", 443, True),  # no port: any port
        ("hooks.internal", 1, True),
        ("HOOKS.internal.", 80, True),  # case and a trailing dot do not matter
        ("evil-hooks.internal", 443, False),
        ("hooks.internal.evil.com", 443, False),
        ("sub.hooks.internal", 443, False),  # a plain entry is not a wildcard
        ("127.0.0.1", 9978, True),
        ("127.0.0.1", 9979, False),
        ("127.0.0.1", None, False),
        ("pbxt.replicate.delivery", 443, True),
        ("a.b.replicate.delivery", 443, True),
        ("replicate.delivery", 443, False),  # `*.` is for subdomains only
        ("evilreplicate.delivery", 443, False),
        ("::1", 8080, True),
        ("[0:0::1]", 8080, True),  # IPv6 literals compare as addresses
        ("::1", 8081, False),
        ("upper.example", 8, True),
        ("fe80::1", 5, True),
        ("", 443, False),
    ],
)
def test_allows(host, port, allowed):
    assert HOSTS.allows(host, port) is allowed


def test_an_empty_list_allows_nothing():
    assert not HostList.parse([])
    assert not HostList.parse([]).allows("localhost", 80)


@pytest.mark.parametrize(
    "entry", ["host:port", "host:0", "host:70000", "[::1", "[::1]x", "a*.b", "*", "a/b", "u@h"]
)
def test_bad_entries_are_refused(entry):
    with pytest.raises(ValueError, match="host list entry"):
        HostList.parse([entry])
