"""The long-lived parts of a running CA, wired once and shared by every request handler."""
from __future__ import annotations

from dataclasses import dataclass, field

from star_ca.ca.issuer import Issuer
from star_ca.config import Config
from star_ca.db import Store
from star_ca.star.cache import StarCache
from star_ca.star.scheduler import Scheduler
from star_ca.va.caa import CaaChecker
from star_ca.va.resolver import DnsClient
from star_ca.va.runner import Validator
from star_ca.wfe.account_keys import AccountKeys
from star_ca.wfe.nonces import Nonces


@dataclass
class Services:
    config: Config
    store: Store
    nonces: Nonces
    issuer: Issuer
    dns: DnsClient
    caa: CaaChecker
    validator: Validator
    scheduler: Scheduler
    star_cache: StarCache = field(default_factory=StarCache)
    account_keys: AccountKeys = field(default_factory=AccountKeys)
