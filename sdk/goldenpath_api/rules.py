"""The rules both sides of the wire share: names, statuses, roles, the default path.

The server enforces them; the SDK, the CLI and the panel check them early to say what to fix
before a byte is uploaded. The OpenAPI document carries the same patterns and enums.
"""

from __future__ import annotations

import re
from typing import Final

# a service name is a DNS label (Kubernetes object names derive from it), with room for suffixes
SERVICE_NAME_PATTERN: Final = r"^[a-z0-9]([a-z0-9-]{0,50}[a-z0-9])?$"
SERVICE_NAME: Final = re.compile(SERVICE_NAME_PATTERN)
SERVICE_NAME_HINT: Final = "use lowercase letters, digits and '-', at most 52 characters"
# a team is a Kubernetes label value too
TEAM_PATTERN: Final = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
TEAM_NAME: Final = re.compile(TEAM_PATTERN)
TEAM_HINT: Final = "use lowercase letters, digits and '-', at most 63 characters"
# a container image pinned by its content digest (tags move)
DIGEST_IMAGE_PATTERN: Final = r"^[\w.\-/:]+@sha256:[0-9a-f]{64}$"
DIGEST_IMAGE: Final = re.compile(DIGEST_IMAGE_PATTERN)

# roles rank: a higher role can do what a lower one can
ROLES: Final = ("viewer", "submitter", "approver", "admin")
ANY_TEAM: Final = "*"

# the path a release takes when the platform has no config file
DEFAULT_ENVIRONMENTS: Final = ("dev", "staging", "prod")

# promotion statuses
WAITING: Final = "waiting_for_approval"
APPROVED: Final = "approved"
REJECTED: Final = "rejected"
DENIED: Final = "denied"
DEPLOYED: Final = "deployed"
PROMOTION_STATUSES: Final = (WAITING, APPROVED, REJECTED, DENIED, DEPLOYED)
# deployment statuses
ROLLING_OUT: Final = "rolling_out"
LIVE: Final = "live"
FAILED: Final = "failed"
DEPLOYMENT_STATUSES: Final = (ROLLING_OUT, LIVE, FAILED)
ACTIVE: Final = (LIVE, ROLLING_OUT)

# listings page at most this many rows at once
MAX_PAGE: Final = 1000

# an environment name is a DNS label too (namespaces derive from it)
ENVIRONMENT_NAME_PATTERN: Final = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
ENVIRONMENT_NAME_HINT: Final = "use lowercase letters, digits and '-', at most 63 characters"
# a user is named by its identity provider: letters, digits and . _ @ -
USER_NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,199}$"
USER_NAME_HINT: Final = "use letters, digits and . _ @ -, at most 200 characters"
DIGEST_IMAGE_HINT: Final = ("tags move; pass the immutable digest, e.g. "
                            "registry/app@sha256:<64 hex>")
# a bundle is addressed by the SHA-256 of its archive (the prefix is optional)
BUNDLE_DIGEST_PATTERN: Final = r"^(sha256:)?[0-9a-f]{64}$"
BUNDLE_DIGEST_HINT: Final = "use sha256:<64 hex digits>, the release's digest"
# an audit head recorded outside the database: SEQ:HASH
AUDIT_HEAD_PATTERN: Final = r"^[0-9]{1,18}:[0-9a-f]{64}$"
AUDIT_HEAD_HINT: Final = "pass the head `goldenpath audit verify` printed, e.g. 42:5f0c..."
# a listing's cursor is opaque: the `next` of the page before (URL-safe base64)
CURSOR_PATTERN: Final = r"^[A-Za-z0-9_-]{1,2048}$"
CURSOR_FORMAT: Final = "goldenpath-cursor"
CURSOR_HINT: Final = ("pass the `next` value of the previous page, or leave `after` out to "
                      "start from the first page")
# the largest count, version or position a request may name: what every JSON client holds
# exactly (JavaScript's safe integers), and well inside the database's 64-bit integers
MAX_INT: Final = 2**53 - 1
