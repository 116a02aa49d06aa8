package org.xraydl;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * Writes a file through a temp file in the same folder and an atomic rename, so a crash or a full
 * disk never leaves a half-written model, report or download where a reader would take it as whole.
 */
public final class AtomicFiles {

    /** Fills a temp file; the target only appears when the writer returned normally. */
    @FunctionalInterface
    public interface Writer {
        void writeTo(Path tmp) throws IOException;
    }

    private AtomicFiles() {
    }

    public static void write(Path target, Writer writer) throws IOException {
        Path abs = target.toAbsolutePath();
        Files.createDirectories(abs.getParent());
        Path tmp = Files.createTempFile(abs.getParent(), "." + abs.getFileName(), ".tmp");
        try {
            writer.writeTo(tmp);
            // createTempFile makes owner-only files; results are meant to be shared like any other output.
            try {
                Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-r--r--"));
            } catch (UnsupportedOperationException notPosix) {
                // e.g. Windows: default permissions are fine
            }
            Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** Text content; failures become a one-line {@link UserError} naming the file. */
    public static void writeString(Path target, String content) {
        try {
            write(target, tmp -> Files.writeString(tmp, content));
        } catch (IOException e) {
            throw new UserError("cannot write " + target + ": " + e.getMessage());
        }
    }
}
