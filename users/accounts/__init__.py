"""Staff accounts: who may do what, and signing in safely (lockouts, rate limits, tokens that can be revoked).

- permissions.py: who may import, update, text, see and commit what (plain predicates every way in shares)

- clients.py: the client's address, believed from X-Forwarded-For only behind trusted proxies
- lockout.py: django-axes's hooks: the phone it counts, the lockout's answer, how long it lasts
- backends.py: the authentication backends every way in goes through
- forms.py: the sign-in forms of /accounts/login/ and /admin/login/
- throttles.py: DRF's request rates for the auth endpoints
- tokens.py: JWT pairs, refresh, logout, and revoking a user's tokens when the password changes
"""
