"""WSGI entry point for production servers: `gunicorn 'wsgi:app'`.

Unlike the command line, serving refuses to start without a key ring (require_keys), and
with sign-in limits kept in one process's memory unless it is told that only one process
serves (check_limit_storage; docs/deployment.md).
"""

from app import create_app
from app.extensions import check_limit_storage

app = create_app(require_keys=True)
check_limit_storage(app.config)
