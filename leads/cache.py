"""A database cache whose counters hold across processes (``CACHES["throttle"]`` without Redis).

Django's ``DatabaseCache.incr`` reads the value and writes it back: two web workers counting
at once lose a count, and the write resets the key's expiry to the cache's default timeout, so
a failure window would never end where it was set to. Here ``incr`` adds in one transaction
that holds the row (``SELECT ... FOR UPDATE``; SQLite's write lock, taken at ``BEGIN``) and
keeps the expiry, as Redis's ``INCR`` does.
"""

from __future__ import annotations

import base64
import pickle
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.cache.backends.db import DatabaseCache
from django.db import connections, router, transaction
from django.utils import timezone


class CounterDatabaseCache(DatabaseCache):
    def __init__(self, table: str, params: dict[str, Any]) -> None:
        super().__init__(table, params)
        self.table = table

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> Any:
        """Add ``delta`` to the value of a key that is there and has not expired, keeping its
        expiry; raise ``ValueError`` when there is no such key (as every cache does)."""
        key = self.make_and_validate_key(key, version=version)
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        quote_name = connection.ops.quote_name
        table, key_column = quote_name(self.table), quote_name("cache_key")
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with transaction.atomic(using=db), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {quote_name('value')} FROM {table} "  # noqa: S608 - quoted names only
                f"WHERE {key_column} = %s AND {quote_name('expires')} > %s{lock}",
                [key, now],
            )
            row = cursor.fetchone()
            if row is None:
                raise ValueError(f"Key '{key}' not found")
            stored = connection.ops.process_clob(row[0])
            # Our own values, written by this cache: pickled as DatabaseCache pickles them.
            value = pickle.loads(base64.b64decode(stored.encode())) + delta  # noqa: S301
            cursor.execute(
                f"UPDATE {table} SET {quote_name('value')} = %s "  # noqa: S608 - quoted names only
                f"WHERE {key_column} = %s",
                [base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1"), key],
            )
        return value

    def set_many_now(self, data: dict[str, Any]) -> None:
        """Write every key of ``data`` with no expiry in one statement (an upsert), where
        ``set_many`` takes several per key (a count for culling, a read, the write): the
        live stamps, moved after each change to a lead, in the worker's path."""
        if not data:
            return
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        quote_name = connection.ops.quote_name
        expires = connection.ops.adapt_datetimefield_value(
            datetime.max.replace(microsecond=0, tzinfo=UTC if settings.USE_TZ else None)
        )
        rows, params = [], []
        for key, value in data.items():
            rows.append("(%s, %s, %s)")
            pickled = base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")
            params += [self.make_and_validate_key(key), pickled, expires]
        value_column, expires_column = quote_name("value"), quote_name("expires")
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {quote_name(self.table)} "  # noqa: S608 - quoted names only
                f"({quote_name('cache_key')}, {value_column}, {expires_column}) "
                f"VALUES {', '.join(rows)} ON CONFLICT ({quote_name('cache_key')}) DO UPDATE "
                f"SET {value_column} = EXCLUDED.{value_column}, "
                f"{expires_column} = EXCLUDED.{expires_column}",
                params,
            )
