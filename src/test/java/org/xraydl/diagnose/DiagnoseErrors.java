package org.xraydl.diagnose;

import org.xraydl.cli.CliRunner.Outcome;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The CLI's convention for a user's mistake, checked on a diagnostic main's outcome. */
final class DiagnoseErrors {
    private DiagnoseErrors() {
    }

    /** Exit status 2, nothing on stdout, and stderr one line "error: ..." holding every {@code named}, no stack trace. */
    static void assertUserError(Outcome o, String... named) {
        assertEquals(2, o.code(), "exit status; stderr: " + o.err());
        assertEquals("", o.out(), "nothing on stdout");
        String err = o.err().strip();
        assertEquals(1, err.lines().count(), "one line on stderr: " + o.err());
        assertTrue(err.startsWith("error: "), err);
        assertFalse(err.contains("Exception:") || err.contains("\tat ") || err.contains("XRAYDL_DEBUG"), "no stack trace, no unexpected error: " + err);
        for (String n : named) {
            assertTrue(err.contains(n), "names " + n + ": " + err);
        }
    }
}
