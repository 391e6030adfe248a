"""CryptoCloud v2: invoice list and info behind `Authorization: Token`, JWT-signed postbacks."""

from __future__ import annotations

import random
import string
import time
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlencode

import jwt
import orjson
from jwt.warnings import InsecureKeyLengthWarning
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox import jsonio
from sandbox.callbacks import Outgoing
from sandbox.errors import Problem
from sandbox.generate import Weighted, naive_utc, stable_int
from sandbox.provider import Provider, arrived
from sandbox.state import Account, AccountConfig, Invoice, Record, Sandbox, to_micros

T = TypeVar("T")

PREFIX = "INV-"
_ID_ALPHABET = string.digits + string.ascii_uppercase
# Ids are made a hundred thousand at a time: two characters per lookup keeps that cheap.
_ID_PAIRS = tuple(a + b for a in _ID_ALPHABET for b in _ID_ALPHABET)
_ID_SPACE = len(_ID_PAIRS) ** 4
# Addresses only need to look the part: random hex spelled in base58 letters is cheap to make.
_HEX_AS_BASE58 = str.maketrans("0123456789abcdef", "zYx2W3v4U5tSrQpN")
MAX_PAGE = 100
DEFAULT_LIMIT = 10
MAX_INFO_UUIDS = 100
LIMIT_MODES = ("index", "count")
# The documented example expires a day after creation. The sandbox does not cancel on expiry by itself:
# the operator's `expire` action and churn do, so a test decides when it happens.
LIFETIME = timedelta(days=1)
FEE = 0.014
SERVICE_FEE = 0.019
TOKEN_TTL = 300  # "valid for 5 minutes"
ANNOUNCED = frozenset({"paid", "partial", "overpaid"})
PAYMENTS = frozenset({"pay", "partial", "overpay"})

_FIATS = Weighted((("USD", 70), ("EUR", 15), ("RUB", 15)))
_FIAT_USD = {"USD": 1.0, "EUR": 1.08, "RUB": 0.011}
_FIAT_SCALE = {"USD": 1, "EUR": 1, "RUB": 90}  # a RUB price is bigger for the same goods


def _coin(
    cid: int, code: str, fullcode: str, network: tuple[str, int, str, str], *, name: str, stable: bool
) -> dict[str, Any]:
    net_code, net_id, net_icon, net_name = network
    return {
        "id": cid,
        "code": code,
        "fullcode": fullcode,
        "network": {
            "code": net_code,
            "id": net_id,
            "icon": f"https://cdn.cryptocloud.plus/currency/crypto/{net_icon}.svg",
            "fullname": net_name,
        },
        "name": name,
        "is_email_required": False,
        "stablecoin": stable,
        "icon_base": f"https://cdn.cryptocloud.plus/currency/icons/main/{code.lower()}.svg",
        "icon_network": f"https://cdn.cryptocloud.plus/icons-currency/{fullcode.replace('_', '-')}.svg",
        "icon_qr": f"https://cdn.cryptocloud.plus/currency/icons/stroke/{code.lower()}.svg",
        "order": cid,
    }


# Shared between records: a change replaces the whole top-level value, never edits these in place.
_COINS: dict[str, dict[str, Any]] = {
    "USDT_TRC20": _coin(4, "USDT", "USDT_TRC20", ("TRC20", 4, "TRX", "Tron"), name="Tether", stable=True),
    "BTC": _coin(1, "BTC", "BTC", ("BTC", 1, "BTC", "Bitcoin"), name="Bitcoin", stable=False),
    "ETH": _coin(2, "ETH", "ETH", ("ERC20", 2, "ETH", "Ethereum"), name="Ethereum", stable=False),
    "LTC": _coin(3, "LTC", "LTC", ("LTC", 3, "LTC", "Litecoin"), name="Litecoin", stable=False),
}
_COIN_PICK = Weighted((("USDT_TRC20", 60), ("BTC", 20), ("ETH", 15), ("LTC", 5)))
_COIN_USD = {"USDT_TRC20": 1.0, "BTC": 65000.0, "ETH": 3200.0, "LTC": 80.0}
_ADDRESS_PREFIX = {"USDT_TRC20": "T", "BTC": "bc1q", "ETH": "0x", "LTC": "ltc1q"}


def page_bounds(offset: int, limit: int, mode: str) -> tuple[int, int]:
    """The zero-based [start, stop) a list request selects from its window."""
    if offset < 0 or limit < 0:
        raise ValueError("offset and limit must be non-negative")
    if mode == "index":
        # The docs: limit is the number of the last record wanted, so offset=10, limit=20 gives
        # the 11th..20th. What client libraries assume (a page size) is the "count" mode.
        stop = limit
    elif mode == "count":
        stop = offset + limit
    else:
        raise ValueError(f"unknown limit mode {mode!r}")
    return offset, max(offset, min(stop, offset + MAX_PAGE))


def select_page(records: Sequence[T], offset: int, limit: int, mode: str) -> list[T]:
    """The records a list request returns, at most MAX_PAGE of them."""
    start, stop = page_bounds(offset, limit, mode)
    return list(records[start:stop])


def _time(moment: datetime, fraction: bool) -> str:
    return naive_utc(moment).isoformat(" ", "microseconds" if fraction else "seconds")


def _money(value: float) -> float | int:
    # amount_in_fiat prints as 100, not 100.0, in the example; keep that for round amounts
    return int(value) if value == int(value) else value


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    return float(value)


def _errors(status: int, result: Mapping[str, str]) -> Response:
    return jsonio.respond({"status": "error", "result": dict(result)}, status)


def _parse_date(value: object) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%d.%m.%Y").date()
    except ValueError:
        return None


def _non_negative_int(body: Mapping[str, Any], key: str, default: int, errors: dict[str, str]) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        errors[key] = "A valid integer is required."
        return default
    if value < 0:
        errors[key] = "Ensure this value is greater than or equal to 0."
        return default
    return value


def parse_list_request(body: Mapping[str, Any]) -> tuple[date, date, int, int] | dict[str, str]:
    """The window and paging of a list request, or the field errors the API answers with."""
    errors: dict[str, str] = {}
    bounds: dict[str, date] = {}
    for key in ("start", "end"):
        if body.get(key) in (None, ""):
            errors[key] = "This field is required."
        elif (parsed := _parse_date(body[key])) is None:
            errors[key] = "Date has wrong format. Use one of these formats instead: dd.mm.yyyy."
        else:
            bounds[key] = parsed
    if "start" in bounds and "end" in bounds and bounds["end"] < bounds["start"]:
        errors["end"] = "Must be later or equal to start."
    offset = _non_negative_int(body, "offset", 0, errors)
    limit = _non_negative_int(body, "limit", DEFAULT_LIMIT, errors)
    if errors:
        return errors
    return bounds["start"], bounds["end"], offset, limit


def _midnight(day: date) -> int:
    return to_micros(datetime(day.year, day.month, day.day, tzinfo=UTC))


class CryptoCloud(Provider):
    name = "cryptocloud"
    settings = frozenset({"api_key", "secret_key", "limit_mode", "callback_url", "callback_scheme"})
    id_field = "uuid"
    amount_field = "amount"
    paid_field = "amount_paid"
    transitions = frozenset({"pay", "partial", "overpay", "cancel", "expire"})
    open_statuses = frozenset({"created", "partial"})
    paid_statuses = frozenset()
    callback_schemes = ("json", "form")

    def check_config(self, config: AccountConfig) -> None:
        if not config.api_key:
            raise Problem(400, "a cryptocloud account needs 'api_key'")
        if config.limit_mode not in LIMIT_MODES:
            raise Problem(400, f"'limit_mode' must be one of {list(LIMIT_MODES)}")
        if config.callback_scheme is not None and config.callback_scheme not in self.callback_schemes:
            raise Problem(400, f"'callback_scheme' must be one of {list(self.callback_schemes)}")

    def identities(self, config: AccountConfig) -> set[str]:
        return {f"api_key:{config.api_key}"}

    def normalize_id(self, key: str) -> str:
        return key if key.startswith(PREFIX) else PREFIX + key

    def currency(self, rec: Record) -> Any:
        return rec.get("fiat_currency")

    # --- records -------------------------------------------------------------------------------

    def new_id(self, account: Account, rng: random.Random) -> str:
        number = rng.getrandbits(42) % _ID_SPACE  # 2**42 > 36**8; the slight skew does not matter
        number, a = divmod(number, 1296)
        number, b = divmod(number, 1296)
        d, c = divmod(number, 1296)
        return PREFIX + _ID_PAIRS[a] + _ID_PAIRS[b] + _ID_PAIRS[c] + _ID_PAIRS[d]

    def build(self, account: Account, key: str, rng: random.Random, created: datetime, amount: Decimal) -> Record:
        fiat = _FIATS.pick(rng)
        coin = _COIN_PICK.pick(rng)
        chosen = rng.random() < 0.6  # the payer has picked a coin: address and crypto amount are known
        fraction = rng.random() >= 0.15  # some records print `created` without microseconds
        test_mode = rng.random() < 0.03
        price = float(amount * _FIAT_SCALE[fiat])
        usd = round(price * _FIAT_USD[fiat], 2)
        fee, fee_usd = round(price * FEE, 2), round(usd * FEE, 2)
        to_pay_usd = round(usd + fee_usd, 2)
        order_id = str(rng.randrange(1000, 1_000_000))  # the merchant's own numbering
        project = stable_int(f"project/{account.seed}", 90_000) + 10_000
        back = f"?order_id={order_id}&invoice_uuid={key}"
        return {
            "uuid": key,
            "created": _time(created, fraction),
            "address": self._address(coin, rng) if chosen else "",
            "currency": _COINS[coin],
            "date_finished": None,
            "expiry_date": _time(created + LIFETIME, False),
            "side_commission": "client",
            "side_commission_cc": "merchant",
            "type_payments": "crypto",
            "status": "created",
            "is_email_required": False,
            "project": {
                "id": project,
                "name": "My store",
                "fail": f"https://test.com/fail{back}",
                "success": f"https://test.com/success{back}",
                "logo": "None",
            },
            "tx_list": [],
            "test_mode": test_mode,
            "type": "up",
            "user_email": "",
            "pay_url": "None",
            "phone": "",
            "order_id": order_id,
            "amount_in_crypto": round(to_pay_usd / _COIN_USD[coin], 8) if chosen else None,
            "amount_in_fiat": _money(price),
            "fiat_currency": fiat,
            "amount": price,
            "amount_usd": usd,
            "amount_to_pay": round(price + fee, 2),
            "amount_to_pay_usd": to_pay_usd,
            "amount_paid": 0.0,
            "amount_paid_usd": 0.0,
            "fee": fee,
            "fee_usd": fee_usd,
            "service_fee": 0,
            "service_fee_usd": round(usd * SERVICE_FEE, 2),
            "received": 0.0,
            "received_usd": 0.0,
            "to_surcharge": 0.0,
            "to_surcharge_usd": 0.0,
        }

    @staticmethod
    def _address(coin: str, rng: random.Random) -> str:
        if coin == "ETH":
            return "0x" + f"{rng.getrandbits(160):040x}"
        return _ADDRESS_PREFIX[coin] + f"{rng.getrandbits(132):033x}".translate(_HEX_AS_BASE58)

    def transition(self, account: Account, rec: Record, action: str, rng: random.Random, at: datetime) -> None:
        if action in ("cancel", "expire"):
            rec["status"] = "canceled"  # CryptoCloud has one status for both
            return
        amount = _float(rec.get("amount"))
        if amount is None or amount < 0.02:
            raise Problem(409, "the record's 'amount' is not a payable number (overridden?)")
        if action == "pay":
            status, paid = "paid", amount
        elif action == "partial":
            status = "partial"
            paid = min(max(round(amount * rng.uniform(0.2, 0.8), 2), 0.01), round(amount - 0.01, 2))
        else:
            status, paid = "overpaid", round(amount * rng.uniform(1.05, 1.5) + 0.01, 2)
        currency = rec.get("currency")
        coin = currency.get("fullcode") if isinstance(currency, dict) else None
        coin_usd = _COIN_USD.get(coin if isinstance(coin, str) else "", 1.0)
        fiat_usd = _FIAT_USD.get(str(rec.get("fiat_currency")), 1.0)
        usd, paid_usd = round(amount * fiat_usd, 2), round(paid * fiat_usd, 2)
        short_usd = max(0.0, round(usd - paid_usd, 2))
        rec.update(
            status=status,
            amount_paid=paid,
            amount_paid_usd=paid_usd,
            received=round(paid_usd / coin_usd, 8),
            received_usd=paid_usd,
            to_surcharge=round(short_usd / coin_usd, 8),
            to_surcharge_usd=short_usd,
            date_finished=None if status == "partial" else _time(at, True),
        )
        if rec.get("amount_in_crypto") is None:
            to_pay_usd = _float(rec.get("amount_to_pay_usd")) or usd
            rec["amount_in_crypto"] = round(to_pay_usd / coin_usd, 8)
        if not rec.get("address") and isinstance(coin, str) and coin in _COINS:
            rec["address"] = self._address(coin, rng)

    def event(self, before: Any, after: Any, action: str) -> str | None:
        # A postback follows every payment the provider confirms, also a second partial payment.
        if after in ANNOUNCED and (after != before or action in PAYMENTS):
            return "postback"
        return None

    # --- callbacks -----------------------------------------------------------------------------

    def build_callback(
        self,
        account: Account,
        invoice: Invoice,
        *,
        url: str,
        scheme: str,
        event: str | None,
        expired: bool,
        wrong_key: bool,
    ) -> Outgoing:
        self.check_callback_scheme(scheme, "postback")
        secret = account.config.secret_key
        if not secret:
            raise Problem(409, "the account has no 'secret_key' to sign the postback token with")
        now = int(time.time())  # the receiver checks `exp` against its own clock
        claims = {"id": invoice.key, "exp": now - 60 if expired else now + TOKEN_TTL}
        with warnings.catch_warnings():
            # the account's key is what the merchant configured, however short
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            token = jwt.encode(claims, f"not-{secret}" if wrong_key else secret, algorithm="HS256")
        rec = invoice.record
        currency = rec.get("currency")
        fields: dict[str, Any] = {
            "status": "success",
            "invoice_id": invoice.key.removeprefix(PREFIX),  # the postback drops the prefix
            "amount_crypto": rec.get("received") or rec.get("amount_in_crypto") or 0,
            "currency": currency.get("fullcode") if isinstance(currency, dict) else None,
            "order_id": rec.get("order_id"),
            "token": token,
        }
        if scheme == "json":
            body = jsonio.dumps({**fields, "invoice_info": orjson.Fragment(invoice.json())})
            content_type = "application/json"
        else:
            form = {k: "" if v is None else str(v) for k, v in fields.items()}
            form["invoice_info"] = invoice.json().decode()
            body = urlencode(form).encode()
            content_type = "application/x-www-form-urlencoded"
        return Outgoing(url, {"content-type": content_type}, body, f"postback {invoice.key} {scheme}")

    # --- HTTP ----------------------------------------------------------------------------------

    def unauthorized(self) -> Response:
        return _errors(401, {"authorization": "Unauthorized request."})

    def failure(self, status: int, headers: Mapping[str, str]) -> Response:
        detail = "Request was throttled." if status == 429 else "Internal server error."
        return jsonio.respond({"status": "error", "result": {"detail": detail}}, status, headers)

    async def _account(self, sb: Sandbox, request: Request) -> Account | None:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme != "Token" or not key:
            return None
        for account in sb.of_provider(self.name):
            if account.config.api_key == key:
                return await arrived(account)
        return None

    @staticmethod
    async def _body(request: Request) -> dict[str, Any] | None:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return None
        return body if isinstance(body, dict) else None

    def routes(self, sb: Sandbox) -> list[BaseRoute]:
        async def invoice_list(request: Request) -> Response:
            account = await self._account(sb, request)
            if account is None:
                return self.unauthorized()
            body = await self._body(request)
            if body is None:
                return _errors(400, {"body": "A JSON object is required."})
            parsed = parse_list_request(body)
            if isinstance(parsed, dict):
                return _errors(400, parsed)
            start, end, offset, limit = parsed
            window = account.book.between(_midnight(start), _midnight(end + timedelta(days=1)))
            page = select_page(window, offset, limit, account.config.limit_mode)
            tail = b'],"all_count":' + str(len(window)).encode() + b"}"
            return await self.page(account, page, lambda items: b'{"status":"success","result":[' + items + tail)

        async def invoice_info(request: Request) -> Response:
            account = await self._account(sb, request)
            if account is None:
                return self.unauthorized()
            body = await self._body(request)
            uuids = body.get("uuids") if body is not None else None
            found: list[Invoice] | Response
            if not isinstance(uuids, list) or not all(isinstance(u, str) for u in uuids):
                found = _errors(400, {"uuids": "A list of invoice uuids is required."})
            elif len(uuids) > MAX_INFO_UUIDS:
                found = _errors(400, {"uuids": f"Ensure this field has no more than {MAX_INFO_UUIDS} elements."})
            else:
                # Undocumented: what info answers for an id it does not know; here it is left out.
                found = [i for u in uuids if (i := account.book.get(self.normalize_id(u))) is not None]
            return await self.narrow(account, found, lambda items: b'{"status":"success","result":[' + items + b"]}")

        return [
            Route("/v2/invoice/merchant/list", invoice_list, methods=["POST"]),
            Route("/v2/invoice/merchant/info", invoice_info, methods=["POST"]),
        ]
