"""MediaSigner on its own: what a signed URL binds (path, expiry, secret) and how secrets
rotate (sign with the first, accept any)."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from core.media_urls import MediaSigner, Refusal

OLD, NEW, STRANGER = "old-secret-0123456789", "new-secret-9876543210", "someone-else-secret"
BASE = "http://media.test"
KEY = "media/123e4567-e89b-12d3-a456-426614174000.png"
OTHER_KEY = "media/00000000-0000-4000-8000-000000000000.png"


def signer(*secrets: str, ttl: int = 3600) -> MediaSigner:
    return MediaSigner(list(secrets), ttl_seconds=ttl, base_url=BASE)


def parts(url: str) -> tuple[str, str, str]:
    """(name, exp, sig) of a signed URL, as the /media route receives them."""
    split = urlsplit(url)
    assert split.path.startswith("/media/"), url
    query = parse_qs(split.query)
    return unquote(split.path.removeprefix("/media/")), query["exp"][0], query["sig"][0]


def test_a_url_is_absolute_and_valid_until_its_expiry():
    now = 1_700_000_000.0
    url = signer(OLD, ttl=60).url(KEY, now=now)
    name, exp, sig = parts(url)
    assert url.startswith(f"{BASE}/media/")
    assert name == KEY.removeprefix("media/")
    assert int(exp) == int(now) + 60
    assert signer(OLD).check(name, exp, sig, now=now) is None
    assert signer(OLD).check(name, exp, sig, now=now + 60) is None
    assert signer(OLD).check(name, exp, sig, now=now + 61) is Refusal.EXPIRED


def test_unsigned_and_half_signed_urls_are_refused():
    name, exp, sig = parts(signer(OLD).url(KEY))
    check = signer(OLD).check
    assert check(name, None, None) is Refusal.UNSIGNED
    assert check(name, exp, None) is Refusal.UNSIGNED
    assert check(name, None, sig) is Refusal.UNSIGNED
    assert check(name, "", "") is Refusal.UNSIGNED


def test_the_signature_binds_path_expiry_and_secret():
    name, exp, sig = parts(signer(OLD).url(KEY))
    check = signer(OLD).check
    other_name = OTHER_KEY.removeprefix("media/")
    assert check(other_name, exp, sig) is Refusal.TAMPERED  # moved to another object
    assert check(name, str(int(exp) + 3600), sig) is Refusal.TAMPERED  # kept alive longer
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    assert check(name, exp, flipped) is Refusal.TAMPERED
    assert check(name, exp, sig[:-1]) is Refusal.TAMPERED
    assert check(name, "-1", sig) is Refusal.TAMPERED
    assert check(name, "1e9", sig) is Refusal.TAMPERED
    assert check(name, "9" * 13, sig) is Refusal.TAMPERED
    assert signer(STRANGER).check(name, exp, sig) is Refusal.TAMPERED


def test_an_expired_url_with_a_forged_expiry_is_still_tampered_not_fresh():
    past = time.time() - 7200
    name, exp, sig = parts(signer(OLD, ttl=60).url(KEY, now=past))
    assert signer(OLD).check(name, exp, sig) is Refusal.EXPIRED
    assert signer(OLD).check(name, str(int(time.time()) + 60), sig) is Refusal.TAMPERED


def test_rotation_keeps_old_links_working_and_signs_with_the_new_secret():
    before = signer(OLD)
    rotated = signer(NEW, OLD)
    old_link = parts(before.url(KEY))
    new_link = parts(rotated.url(KEY))

    assert rotated.check(*old_link) is None  # handed out before the rotation: still good
    assert rotated.check(*new_link) is None
    assert before.check(*new_link) is Refusal.TAMPERED  # signed with NEW, not OLD
    assert signer(NEW).check(*new_link) is None
    assert rotated.check(*parts(signer(STRANGER).url(KEY))) is Refusal.TAMPERED
    # once OLD is dropped, its links stop working
    assert signer(NEW).check(*old_link) is Refusal.TAMPERED


def test_names_that_need_quoting_are_signed_as_handed_out():
    key = "media/a file+name%.png"
    url = signer(OLD).url(key)
    assert " " not in url
    name, exp, sig = parts(url)
    assert name == "a file+name%.png"
    assert signer(OLD).check(name, exp, sig) is None
    assert signer(OLD).check("a file name%.png", exp, sig) is Refusal.TAMPERED


def test_a_signer_needs_a_secret():
    with pytest.raises(ValueError, match="secret"):
        MediaSigner([], ttl_seconds=60, base_url=BASE)


@pytest.mark.parametrize(
    ("exp", "sig"),
    [("²", "abc"), ("\uff11\uff12", "abc"), ("9" * 13, "abc"), ("1", "é"), ("1", "sig\u00a0")],
)
def test_odd_query_values_are_tampered_never_an_error(exp: str, sig: str) -> None:
    # Unicode digits pass str.isdigit() but not int(); a non-ASCII sig breaks compare_digest.
    assert signer("k").check("a.png", exp, sig) is Refusal.TAMPERED
