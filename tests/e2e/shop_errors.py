"""The custom exception of the parity test's `caught` case (reference_python.py), in a module
of its own so that its `__module__` is `shop_errors`, as an application's error module would be."""


class PaymentDeclined(Exception):
    """A card payment the bank declined."""
