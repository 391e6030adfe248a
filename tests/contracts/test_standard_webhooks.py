"""Standard Webhooks: our signatures against the reference implementation (`standardwebhooks`), both ways."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from contracts.errors import CallbackUnauthorized
from contracts.standard_webhooks import (
    TOLERANCE_SECONDS,
    new_secret,
    secret_key,
    sign,
    signature_header,
    verify,
)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks spec's example secret
OTHER_SECRET = "whsec_" + base64.b64encode(b"another key of thirty-two bytes!").decode()
BODY = b'{"id":"evt_abc","type":"invoice.paid","data":{"amount":"100.00","text":"caf\xc3\xa9"}}'
MSG_ID = "evt_abc"


def now() -> datetime:
    """The reference implementation checks timestamps against the real clock, so these tests use it too."""
    return datetime.now(UTC)


def headers(signature: str, timestamp: int, msg_id: str = MSG_ID) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def test_spec_example_signature() -> None:
    """The example of the Standard Webhooks specification, reproduced exactly."""
    signature = sign(secret_key(SECRET), "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_our_signature_verifies_with_the_reference() -> None:
    timestamp = int(now().timestamp())
    signature = signature_header([secret_key(SECRET)], MSG_ID, timestamp, BODY)
    assert re.fullmatch(r"v1,[A-Za-z0-9+/]{43}=", signature)
    Webhook(SECRET).verify(BODY, headers(signature, timestamp))
    assert verify(headers(signature, timestamp), BODY, secret_key(SECRET), now=now()) == MSG_ID


def test_two_key_header_during_rotation_verifies_with_either_secret() -> None:
    timestamp = int(now().timestamp())
    keys = [secret_key(SECRET), secret_key(OTHER_SECRET)]
    signature = signature_header(keys, MSG_ID, timestamp, BODY)
    assert len(signature.split(" ")) == 2
    for secret in (SECRET, OTHER_SECRET):
        Webhook(secret).verify(BODY, headers(signature, timestamp))
        assert verify(headers(signature, timestamp), BODY, secret_key(secret), now=now()) == MSG_ID
    third = "whsec_" + base64.b64encode(b"a third key, never used to sign").decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(third).verify(BODY, headers(signature, timestamp))
    with pytest.raises(CallbackUnauthorized):
        verify(headers(signature, timestamp), BODY, secret_key(third), now=now())


def test_the_reference_refuses_our_signature_for_another_body_or_key() -> None:
    """The cross-check above means something: the reference does refuse a mismatch."""
    timestamp = int(now().timestamp())
    signature = sign(secret_key(SECRET), MSG_ID, timestamp, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY + b" ", headers(signature, timestamp))
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER_SECRET).verify(BODY, headers(signature, timestamp))


def test_reference_signatures_verify_with_ours() -> None:
    moment = now()
    timestamp = int(moment.timestamp())
    reference = Webhook(SECRET).sign(MSG_ID, datetime.fromtimestamp(timestamp, UTC), BODY.decode())
    assert reference == sign(secret_key(SECRET), MSG_ID, timestamp, BODY)
    assert verify(headers(reference, timestamp), BODY, secret_key(SECRET), now=moment) == MSG_ID


def test_a_reference_signature_among_others_verifies() -> None:
    """Unknown versions and signatures by other keys beside ours are skipped, not fatal."""
    moment = now()
    timestamp = int(moment.timestamp())
    ours = Webhook(SECRET).sign(MSG_ID, datetime.fromtimestamp(timestamp, UTC), BODY.decode())
    theirs = Webhook(OTHER_SECRET).sign(MSG_ID, datetime.fromtimestamp(timestamp, UTC), BODY.decode())
    header = f"v1a,somethingelse {theirs} {ours}"
    assert verify(headers(header, timestamp), BODY, secret_key(SECRET), now=moment) == MSG_ID


def valid(moment: datetime) -> dict[str, str]:
    timestamp = int(moment.timestamp())
    return headers(sign(secret_key(SECRET), MSG_ID, timestamp, BODY), timestamp)


FIXED_NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def refused(hdrs: dict[str, str], body: bytes = BODY, secret: str = SECRET) -> None:
    with pytest.raises(CallbackUnauthorized) as caught:
        verify(hdrs, body, secret_key(secret), now=FIXED_NOW)
    assert caught.value.http_status == 401


@pytest.mark.parametrize("skew", [-TOLERANCE_SECONDS, -1, 0, 1, TOLERANCE_SECONDS])
def test_timestamps_within_tolerance(skew: int) -> None:
    assert verify(valid(FIXED_NOW + timedelta(seconds=skew)), BODY, secret_key(SECRET), now=FIXED_NOW) == MSG_ID


@pytest.mark.parametrize("skew", [-(TOLERANCE_SECONDS + 1), TOLERANCE_SECONDS + 1, -86400, 86400])
def test_stale_or_future_timestamps(skew: int) -> None:
    refused(valid(FIXED_NOW + timedelta(seconds=skew)))


def test_wrong_key() -> None:
    refused(valid(FIXED_NOW), secret=OTHER_SECRET)


@pytest.mark.parametrize("body", [BODY + b" ", BODY[:-1], b"", BODY.replace(b"100.00", b"999.00")])
def test_tampered_body(body: bytes) -> None:
    refused(valid(FIXED_NOW), body=body)


def test_tampered_id_or_timestamp() -> None:
    good = valid(FIXED_NOW)
    refused({**good, "webhook-id": "evt_other"})
    refused({**good, "webhook-timestamp": str(int(good["webhook-timestamp"]) + 1)})


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_headers(missing: str) -> None:
    good = valid(FIXED_NOW)
    refused({k: v for k, v in good.items() if k != missing})
    refused({**good, missing: ""})


def test_header_names_are_expected_in_lower_case() -> None:
    refused({k.title(): v for k, v in valid(FIXED_NOW).items()})


@pytest.mark.parametrize(
    "timestamp",
    ["abc", "-1", "1.5", " 1", "1e9", "\u00b2", "\u0661\u0662", "9" * 400, "9" * 5000, "0x10"],
)
def test_bad_timestamps_are_refused_not_crashing(timestamp: str) -> None:
    good = valid(FIXED_NOW)
    refused({**good, "webhook-timestamp": timestamp})


@pytest.mark.parametrize(
    "signature",
    [
        "garbage",
        "v1,",
        "v2,{mac}",
        "{mac}",
        "v1,{mac}x",
        "v1, {mac}",
        "V1,{mac}",
        "v1,{mac_url}",
    ],
)
def test_malformed_signatures(signature: str) -> None:
    good = valid(FIXED_NOW)
    mac = good["webhook-signature"].removeprefix("v1,")
    mangled = signature.format(mac=mac, mac_url=mac.replace("+", "-").replace("/", "_") + "-")
    refused({**good, "webhook-signature": mangled})


def test_new_secret_format() -> None:
    secrets = {new_secret() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", secret)
        key = secret_key(secret)
        assert len(key) == 32
        assert base64.b64decode(secret.removeprefix("whsec_"), validate=True) == key
        Webhook(secret)  # the reference accepts it
    assert len(secret_key(new_secret(64))) == 64


def test_secret_key() -> None:
    assert secret_key(SECRET) == base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    for bad in ("whsec_not base64!", "whsec_abc", "whsec_\u00e9"):
        with pytest.raises(ValueError, match="not a whsec_ secret"):
            secret_key(bad)
