"""Running database work on another thread, for race tests."""

import threading

from django.db import connection


def in_thread(target):
    """Start ``target`` on its own thread and database connection: (thread, outcome), where
    outcome gets "result" (its return value) or "error" (the exception, for the test to
    inspect) once the thread ends."""
    outcome = {}

    def run():
        try:
            outcome["result"] = target()
        except Exception as err:  # the test inspects it
            outcome["error"] = err
        finally:
            connection.close()  # the thread's own connection, not the test's

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome
