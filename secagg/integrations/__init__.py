"""Optional bridges to ML frameworks (torch) and FL engines (Flower). Each lives in its own
subpackage behind an extra (``pip install secagg[torch]``, ``secagg[flower]``); nothing in the
core imports them."""
