package org.xraydl.model.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Enumeration;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Hand-edited copies of a saved model zip, for the tests of hostile and damaged model files. */
public final class ZipEdits {

    private ZipEdits() {
    }

    /** A copy of {@code from} at {@code to} whose entry {@code name} (which must exist) holds {@code content}. */
    public static Path replace(Path from, Path to, String name, byte[] content) throws IOException {
        boolean found = false;
        try (ZipFile in = new ZipFile(from.toFile()); ZipOutputStream out = new ZipOutputStream(Files.newOutputStream(to))) {
            Enumeration<? extends ZipEntry> entries = in.entries();
            while (entries.hasMoreElements()) {
                ZipEntry e = entries.nextElement();
                out.putNextEntry(new ZipEntry(e.getName()));
                if (e.getName().equals(name)) {
                    out.write(content);
                    found = true;
                } else {
                    in.getInputStream(e).transferTo(out);
                }
                out.closeEntry();
            }
        }
        assertTrue(found, name + " is in the saved zip");
        return to;
    }
}
