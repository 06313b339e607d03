"""Signing in safely: lockouts after failed passwords, rate limits per client, and tokens that can be revoked.

- clients.py: the client's address, believed from X-Forwarded-For only behind trusted proxies
- lockout.py: django-axes's hooks: the phone it counts, the lockout's answer, how long it lasts
- backends.py: the authentication backends every way in goes through
- forms.py: the sign-in forms of /accounts/login/ and /admin/login/
- throttles.py: DRF's request rates for the auth endpoints
- tokens.py: JWT pairs, refresh, logout, and revoking a user's tokens when the password changes
"""
