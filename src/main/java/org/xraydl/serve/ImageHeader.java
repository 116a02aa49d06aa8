package org.xraydl.serve;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Locale;

/**
 * Format and size of an image read from its header only (ImageIO's reader stops after the header),
 * so a small file that claims a huge image is refused before anything is decoded.
 */
record ImageHeader(String format, int width, int height) {

    long pixels() {
        return (long) width * height;
    }

    /** A file extension for the format ({@code jpeg} → {@code jpg}). */
    String extension() {
        String f = format.toLowerCase(Locale.ROOT);
        return f.equals("jpeg") ? "jpg" : f;
    }

    /** The header of {@code file}, or null when no image reader recognises it or its header is unreadable. */
    static ImageHeader read(Path file) {
        try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            if (in == null) {
                return null;
            }
            Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) {
                return null;
            }
            ImageReader reader = readers.next();
            try {
                reader.setInput(in, true, true);
                return new ImageHeader(reader.getFormatName(), reader.getWidth(0), reader.getHeight(0));
            } finally {
                reader.dispose();
            }
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
