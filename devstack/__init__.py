"""The service's servers, run and supervised on one machine: `make up` and the test stack.

`Stack` starts PostgreSQL, Temporal, the S3 store, the fake provider, the migration, the
worker and the API as supervised children (see `servers.CHILDREN`), all configured by
`StackSettings`.
"""

from devstack.children import ChildSpec
from devstack.servers import APP, CHILDREN, SERVERS
from devstack.settings import StackSettings
from devstack.supervisor import Stack, StackAborted, StackError

__all__ = [
    "APP",
    "CHILDREN",
    "SERVERS",
    "ChildSpec",
    "Stack",
    "StackAborted",
    "StackError",
    "StackSettings",
]
