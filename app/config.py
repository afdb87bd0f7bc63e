"""Default configuration.

Order of precedence (later wins): these defaults, ``instance/config.py``, then ``FLASK_*``
environment variables (``app.config.from_prefixed_env()``), e.g.
``FLASK_SQLALCHEMY_DATABASE_URI`` or ``FLASK_DATA_KEYS_FILE``.
"""


class Defaults:
    # Overridden by instance/config.py (written by `make run`) or FLASK_SECRET_KEY. Left empty
    # on purpose: create_app() refuses to start without a real secret outside testing.
    SECRET_KEY = ""

    # Relative sqlite paths are resolved against the instance folder in create_app().
    SQLALCHEMY_DATABASE_URI = "sqlite:///relais.db"
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}

    # Key ring (AES-256-GCM data keys and the person-code pepper). Relative paths are
    # resolved against the instance folder.
    DATA_KEYS_FILE = "keys.json"

    # Session cookie: never readable from JavaScript, never sent cross-site on POST, and
    # only over HTTPS. `make run` (plain http on 127.0.0.1) turns Secure off explicitly.
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = True
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"

    # --- Sessions kept on the server (app/auth/sessions.py) ---------------------------------
    # The cookie holds only a random token; the session is a database row, deleted on
    # sign-out. A session unused for SESSION_IDLE_MINUTES is refused: 12 hours, because a
    # maraude runs late and a phone may stay in a pocket for hours between two contacts.
    # Whatever its use, a session ends SESSION_MAX_HOURS after sign-in: 7 days bounds how long
    # a stolen cookie kept busy can serve and asks for the password once a week; being whole
    # days, the end falls at the time of day of the sign-in (usually the start of a shift),
    # not in the middle of a maraude. last_seen_at is written at most once a minute, so the
    # idle timeout is exact to the minute.
    SESSION_IDLE_MINUTES = 12 * 60
    SESSION_MAX_HOURS = 7 * 24
    # --- end of sessions ------------------------------------------------------------------

    # CSRF tokens live as long as the session: a worker may keep a form open for hours
    # on a maraude before submitting it.
    WTF_CSRF_TIME_LIMIT = None
    WTF_CSRF_HEADERS = ["X-CSRFToken", "X-CSRF-Token"]

    # Sign-in throttling (app/auth/throttle.py): failures slow down where they come from,
    # so that nobody can lock an account's owner out from elsewhere. The account–address pair
    # has LOGIN_PAIR_FREE_FAILURES failures (forgotten a day after the first), the address
    # LOGIN_ADDRESS_FREE_FAILURES whatever the accounts (forgotten after an hour); from then
    # on each failure makes them wait, the first delay then twice as long each time, up to
    # the maximum. An account is locked for everyone only after LOGIN_ACCOUNT_FAILURE_LIMIT
    # failures from wherever (many addresses), for LOGIN_ACCOUNT_LOCK_MINUTES or until an
    # admin unlocks it.
    LOGIN_PAIR_FREE_FAILURES = 5
    LOGIN_PAIR_MEMORY_SECONDS = 24 * 3600
    LOGIN_ADDRESS_FREE_FAILURES = 20
    LOGIN_ADDRESS_MEMORY_SECONDS = 3600
    LOGIN_THROTTLE_FIRST_DELAY_SECONDS = 30
    LOGIN_THROTTLE_MAX_DELAY_SECONDS = 15 * 60
    LOGIN_ACCOUNT_FAILURE_LIMIT = "100 per hour"
    LOGIN_ACCOUNT_LOCK_MINUTES = 60

    # Per-address limit on sign-in requests (right or wrong), on top of the throttling.
    # A team behind one office address stays far below.
    LOGIN_RATE_LIMIT = "30 per minute;300 per hour"
    # Every sign-in counter lives in this store: memory:// only when one process serves
    # (wsgi.py refuses it otherwise unless RATELIMIT_SINGLE_PROCESS is set), redis://host:6379/0
    # when several workers or hosts serve.
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_SINGLE_PROCESS = False
    # If Redis is down, let people sign in and log it (accounts with 100 failures since their
    # last sign-in still wait: that count is in the database).
    RATELIMIT_SWALLOW_ERRORS = True
    RATELIMIT_HEADERS_ENABLED = False

    # Argon2id parameters (argon2-cffi defaults; tests lower them to keep the suite fast).
    ARGON2_TIME_COST = 3
    ARGON2_MEMORY_COST = 65536
    ARGON2_PARALLELISM = 4

    # Accounts (app.admin.users, app.auth.two_factor). Roles that must sign in with a second
    # factor: coordinators see every figure of their neighbourhoods, admins every account.
    # The demo (`make run`) leaves it optional so that a newcomer can try every role at once.
    TWO_FACTOR_REQUIRED_ROLES = ("admin", "coordinator")
    # How long an invitation or password-reset link stays valid (it works once).
    ACCOUNT_LINK_HOURS = 72
    # The address people open Relais at, for the links that `flask user invite` prints (the
    # pages build theirs from the address the request came to). Set it in production, e.g.
    # FLASK_PUBLIC_BASE_URL=https://relais.example.be
    PUBLIC_BASE_URL = "http://127.0.0.1:5000"
    # New passwords: at least this long, and not one of the common passwords.
    PASSWORD_MIN_LENGTH = 12

    # Retention (app.retention, `flask --app app retention purge`, daily): the free text of
    # a record (notes, referral messages and replies, step notes) is erased this many months
    # after its last activity (0: everything up to now), and a person code is unlinked from
    # records this many months after the person's last contact and last closed bridge.
    RETENTION_NOTES_MONTHS = 24
    RETENTION_CODES_MONTHS = 36

    BABEL_DEFAULT_LOCALE = "fr"
    BABEL_DEFAULT_TIMEZONE = "Europe/Brussels"
    LANGUAGES = ("fr", "nl", "en")

    # Local time zone of the field work: form defaults, display and day boundaries.
    LOCAL_TIMEZONE = "Europe/Brussels"

    # Number of reverse proxies in front of the app (X-Forwarded-For/Proto trusted that
    # many hops); 0 when the app is reached directly.
    PROXY_HOPS = 0

    # Small-cell suppression: counts from 1 to k-1 leave the team as "<k" (DESIGN §3).
    SUPPRESSION_K = 5

    # Pages the service worker keeps for offline use (forms and today; never a page holding
    # a note, a referral or a person-code history).
    # The help pages (app/help) hold no personal data, but are rendered in the signed-in
    # layout: they are kept with the person's other pages.
    OFFLINE_PAGES = ("/today", "/contacts/new", "/collective-actions/new", "/help",
                     "/help/field_worker", "/help/coordinator", "/help/partner", "/help/admin")

    CONTACTS_PER_PAGE = 50
    # A bridge follow-up is meant to be short: open longer than this, it is flagged for review.
    BRIDGE_REVIEW_DAYS = 90
    # Default delay before the next step of a new bridge.
    BRIDGE_NEXT_STEP_DAYS = 7
    MAX_CONTENT_LENGTH = 256 * 1024
    NOTE_MAX_LENGTH = 4000
    PERSON_CODE_MAX_LENGTH = 64
    MAX_PEOPLE_PER_CONTACT = 500
