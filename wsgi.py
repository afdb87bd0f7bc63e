"""WSGI entry point for production servers: `gunicorn 'wsgi:app'`.

Unlike the command line, serving refuses to start without a key ring (require_keys).
"""

from app import create_app

app = create_app(require_keys=True)
