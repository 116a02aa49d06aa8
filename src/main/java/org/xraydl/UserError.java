package org.xraydl;

/**
 * A problem the user can fix (bad path, bad option, unreadable file). The CLI prints its
 * message as one line, without a stack trace, and exits with status 2.
 */
public class UserError extends RuntimeException {
    public UserError(String message) {
        super(message);
    }

    public UserError(String message, Throwable cause) {
        super(message, cause);
    }
}
