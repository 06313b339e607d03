"""Response renderers: DRF's JSON, and a variant for answers that echo a request's own text back."""

from rest_framework.renderers import JSONRenderer


class EchoJSONRenderer(JSONRenderer):
    """JSON with every non-ASCII character escaped (`é` as `\\u00e9`): for answers that repeat what was posted.

    Once a string holds one character outside the Basic Multilingual Plane (an
    emoji), CPython stores each of its characters in 4 bytes, and json.dumps holds
    the answer about twice over before it is encoded. Escaped, every piece is ASCII,
    one byte a character; clients decode both forms to the same text. Measured on
    bulk-create's worst body within its limit (10,000 rejected customers echoed
    back, every value with an emoji, 6 MB): rendering took 61 MB, escaped 18 MB.
    """

    ensure_ascii = True
