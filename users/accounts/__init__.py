"""Signing in safely: lockouts after failed passwords, and rate limits per client.

- clients.py: the client's address, believed from X-Forwarded-For only behind trusted proxies
- lockout.py: django-axes's hooks: the phone it counts, the lockout's answer, how long it lasts
- backends.py: the authentication backends every way in goes through
- forms.py: the sign-in forms of /accounts/login/ and /admin/login/
- throttles.py: DRF's request rates for the auth endpoints
"""
