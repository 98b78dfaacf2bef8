"""Optional bridges to ML frameworks. Each lives in its own subpackage behind an extra
(``pip install secagg[torch]``); nothing in the core imports them."""
