#!/usr/bin/env python3
"""sign.py SECRET_HEX METHOD TARGET [TS [NONCE]]: the Authorization header
value edgecap-agent expects, computed independently of edgecap's C code."""
import hashlib
import hmac
import os
import sys
import time

secret = bytes.fromhex(sys.argv[1])
method, target = sys.argv[2], sys.argv[3]
ts = int(sys.argv[4]) if len(sys.argv) > 4 else int(time.time())
nonce = sys.argv[5] if len(sys.argv) > 5 else os.urandom(16).hex()
msg = f"{method}\n{target}\n{ts}\n{nonce}".encode()
sig = hmac.new(secret, msg, hashlib.sha256).hexdigest()
print(f"Edgecap-HMAC ts={ts},nonce={nonce},sig={sig}")
