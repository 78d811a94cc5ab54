"""Login throttling on top of django-axes: one limit per account, another per address.

Axes records every failed login (account name, address) and compares one failure count with one
limit. Flywheel wants two: an account locks after FLYWHEEL_LOGIN_ACCOUNT_FAILURES failures from
any address (a slow attack from many machines), and an address after
FLYWHEEL_LOGIN_ADDRESS_FAILURES failures across accounts (one machine trying many accounts).
Either lock refuses every login it covers, right password or not, for
FLYWHEEL_LOGIN_LOCKOUT_MINUTES after the last counted failure; `manage.py axes_reset` (or
`axes_reset_username NAME`, `axes_reset_ip ADDRESS`) lifts it earlier.
"""

from __future__ import annotations

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_lockout_parameters
from django.conf import settings
from django.db.models import Sum


def failure_limit(request, credentials) -> int:
    """AXES_FAILURE_LIMIT: the number `AccountAndAddressHandler.get_failures` is compared with."""
    return settings.FLYWHEEL_LOGIN_ACCOUNT_FAILURES


def client_address(request) -> str | None:
    """AXES_CLIENT_IP_CALLABLE: the connection's address, or, behind FLYWHEEL_TRUSTED_PROXIES
    proxies, the address the outermost trusted proxy saw (each proxy appends the one it saw to
    X-Forwarded-For, so the entries further left are whatever the client chose to send)."""
    proxies = settings.FLYWHEEL_TRUSTED_PROXIES
    if proxies:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies][:64]
    return request.META.get("REMOTE_ADDR")


class AccountAndAddressHandler(AxesDatabaseHandler):
    def get_failures(self, request, credentials=None) -> int:
        """The failure count axes compares with the account limit (`failure_limit`).

        The address count is scaled so that it reaches the account limit exactly when it
        reaches its own: with whole numbers, count * A // B >= A if and only if count >= B."""
        counts = {}
        parameters = get_lockout_parameters(request, credentials)
        for parameter, attempts in zip(parameters, self.get_user_attempts(request, credentials)):
            counts[str(parameter)] = attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
        account_limit = settings.FLYWHEEL_LOGIN_ACCOUNT_FAILURES
        address_limit = settings.FLYWHEEL_LOGIN_ADDRESS_FAILURES
        return max(counts.get("username", 0), counts.get("ip_address", 0) * account_limit // address_limit)
