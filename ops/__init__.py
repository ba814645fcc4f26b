"""Provisioning and operations for technicians: config checks, the doctor, broker credentials.

``motcua check-config FILE``, ``motcua doctor --config FILE`` and ``motcua provision-device``
land here (see :mod:`ops.cli`); ``setup.sh`` calls ``python3 -m ops server-init`` to write the
site broker's configuration. Everything a fresh server needs before the venv exists (Mosquitto
config, password hashes) uses the standard library only.
"""
