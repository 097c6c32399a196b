"""Binance spot REST error codes, sorted by what the caller should do next (the "Error codes"
documentation): refuse to start, back off, reconcile, retry, or record the rejection."""

from __future__ import annotations

# Binance error codes by what the caller should do next (spot REST "Error codes" documentation).
CONFIG_CODES = {-1002, -1022, -2014, -2015}  # unauthorized, bad signature, bad key, key/IP/permission
RATE_CODES = {-1003, -1015}  # too many requests, too many new orders
UNKNOWN_CODES = {-1000, -1001, -1006, -1007}  # unknown, disconnected, unexpected response, timeout
RETRY_CODES = {-1008, -1021}  # server busy, timestamp outside recvWindow
REJECT_CODES = {
    -1013,  # filter failure / market closed
    -1100,
    -1101,
    -1102,
    -1103,
    -1104,
    -1105,
    -1106,  # parameter problems
    -1111,  # precision
    -1112,
    -1114,
    -1115,
    -1116,
    -1117,
    -1118,
    -1119,  # order field problems
    -1121,  # invalid symbol
    -1125,
    -1127,
    -1128,
    -1130,
    -2010,  # new order rejected (insufficient balance, duplicate, ...)
    -2011,  # cancel rejected
    -2026,  # order archived
}
NO_SUCH_ORDER = -2013
CANCEL_REJECTED = -2011  # "Unknown order sent.": the order is not open (filled, cancelled, expired) or unknown


def classify(code: int | None, http_status: int | None) -> str:
    """'config' | 'rate' | 'unknown' | 'retry' | 'reject' for an error answer."""
    if http_status in (418, 429) or code in RATE_CODES:
        return "rate"
    if code in CONFIG_CODES or http_status in (401, 403):
        return "config"
    if code in UNKNOWN_CODES or (http_status is not None and http_status >= 500):
        return "unknown"
    if code in RETRY_CODES:
        return "retry"
    return "reject"
