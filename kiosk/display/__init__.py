"""The hall display (``motcua display``): the ticket being called and its desk, the last calls,
waiting per service and the time, from retained state alone; voice calls in Vietnamese.

Plain parts (no Kivy): :mod:`.config`, :mod:`.model` (:class:`HallModel`), :mod:`.voice`
(:class:`Announcer`). The Kivy window lives in :mod:`.app` and is imported only to run it.
"""
