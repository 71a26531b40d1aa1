"""Loaded by the LocalStack process that stackproof starts (PYTHONPATH), never by stackproof.

LocalStack 4.13.1's KMS passes bytes to ``uuid.uuid5``, which Python accepts only from 3.12
on; on 3.11 every CreateKey fails. This is Python 3.12's own definition.
"""

import hashlib
import sys
import uuid

if sys.version_info < (3, 12):

    def _uuid5(namespace: uuid.UUID, name: "str | bytes") -> uuid.UUID:
        data = name.encode("utf-8") if isinstance(name, str) else name
        digest = hashlib.sha1(namespace.bytes + data, usedforsecurity=False).digest()
        return uuid.UUID(bytes=digest[:16], version=5)

    uuid.uuid5 = _uuid5
