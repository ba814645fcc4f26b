"""The desk rating terminal: citizen rating buttons, officer call keys, LEDs and buzzer, an
optional serial counter display and badge reader, all on one Raspberry Pi per desk.

``Terminal`` is the logic (no gpiozero inside); ``Hardware`` builds the gpiozero devices from
config; ``serial_devices`` holds the counter display drivers and the badge reader.
"""
