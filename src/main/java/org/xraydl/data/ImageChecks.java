package org.xraydl.data;

import org.bytedeco.opencv.global.opencv_imgcodecs;
import org.bytedeco.opencv.opencv_core.Mat;

import org.xraydl.UserError;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

import static org.bytedeco.opencv.global.opencv_core.CV_16U;
import static org.bytedeco.opencv.global.opencv_core.CV_8U;

/**
 * Why an image file cannot be used, found before DataVec sees it: unreadable, empty, truncated
 * (OpenCV decodes a JPEG cut in half without a word, filling the rest grey), or undecodable.
 * Also the one place that brings 16-bit images to the 8-bit range every model was trained on.
 */
public final class ImageChecks {
    /** Bytes read from the end of a file to find its end marker past trailing padding. */
    static final int TAIL_BYTES = 64 * 1024;

    private ImageChecks() {
    }

    /** The reason {@code f} cannot be used as an image, or null if it can. */
    public static String problem(Path f) {
        if (!Files.isRegularFile(f)) {
            return "file not found";
        }
        if (!Files.isReadable(f)) {
            return "cannot read the file (permission denied)";
        }
        try {
            long size = Files.size(f);
            if (size == 0) {
                return "empty file";
            }
            String truncated = truncation(f, size);
            if (truncated != null) {
                return truncated;
            }
        } catch (IOException e) {
            return "cannot read the file (" + e.getMessage() + ")";
        }
        Mat m = opencv_imgcodecs.imread(f.toString(), opencv_imgcodecs.IMREAD_REDUCED_GRAYSCALE_8);
        try {
            if (m == null || m.empty()) {
                return "cannot decode image (not a readable " + ImageFolderScanner.supportedList() + " file)";
            }
        } finally {
            if (m != null) {
                m.close();
            }
        }
        return null;
    }

    /**
     * The one-line error for an image that cannot be used, worded as the scanner words it: {@code problem} is
     * {@link #problem}'s reason, {@code more} the count of further unusable images (0: none).
     */
    public static UserError unusable(Path f, String problem, int more) {
        return new UserError(unusableMessage(f, problem, more));
    }

    private static String unusableMessage(Path f, String problem, int more) {
        return "unusable image " + f + ": " + problem + (more > 0 ? " (and " + more + " more)" : "")
                + "; remove or replace it, or pass --skip-bad to skip unreadable images and count them in the report";
    }

    /**
     * The error for an image that failed while its batch was decoded (it passed the scan, so it changed since,
     * or fails in a way the scan does not look for): {@link #unusable} with the scan's reason if it now finds
     * one, else the decoder's.
     */
    static UserError failedWhileDecoding(Path f, Throwable cause) {
        String problem = problem(f);
        if (problem == null) {
            String m = cause.getMessage();
            problem = cause.getClass().getSimpleName() + (m == null || m.isBlank() ? "" : ": " + m.lines().findFirst().orElse(""));
        }
        return new UserError(unusableMessage(f, problem, 0), cause);
    }

    /** JPEG must end with EOI (FF D9), PNG with its IEND chunk, after any trailing zero padding. */
    static String truncation(Path f, long size) throws IOException {
        try (RandomAccessFile r = new RandomAccessFile(f.toFile(), "r")) {
            byte[] head = new byte[(int) Math.min(8, size)];
            r.readFully(head);
            int n = (int) Math.min(TAIL_BYTES, size);
            byte[] tail = new byte[n];
            r.seek(size - n);
            r.readFully(tail);
            int end = n;
            while (end > 0 && tail[end - 1] == 0) {
                end--;
            }
            if (head.length >= 3 && (head[0] & 0xff) == 0xFF && (head[1] & 0xff) == 0xD8 && (head[2] & 0xff) == 0xFF) {
                boolean eoi = end >= 2 && (tail[end - 2] & 0xff) == 0xFF && (tail[end - 1] & 0xff) == 0xD9;
                return eoi ? null : "truncated JPEG (no end-of-image marker FFD9)";
            }
            if (head.length == 8 && (head[0] & 0xff) == 0x89 && head[1] == 'P' && head[2] == 'N' && head[3] == 'G') {
                // IEND chunk: length 0, type "IEND", 4-byte CRC: the type sits 8 bytes before the end.
                boolean iend = end >= 8 && tail[end - 8] == 'I' && tail[end - 7] == 'E' && tail[end - 6] == 'N' && tail[end - 5] == 'D';
                return iend ? null : "truncated PNG (no IEND chunk)";
            }
            return null;
        }
    }

    /**
     * The image in 8-bit depth: 16-bit images (grey X-ray PNGs often are) scaled by 255/65535, so a
     * 16-bit copy of an 8-bit picture gives the same tensor; 8-bit images unchanged.
     *
     * @throws IllegalArgumentException for other depths (float HDR/TIFF), which no model here was trained on
     */
    public static Mat toEightBit(Mat m) {
        int depth = m.depth();
        if (depth == CV_8U) {
            return m;
        }
        if (depth == CV_16U) {
            Mat out = new Mat();
            m.convertTo(out, CV_8U, 255.0 / 65535.0, 0);
            return out;
        }
        throw new IllegalArgumentException("unsupported image bit depth (OpenCV depth " + depth + "): use 8- or 16-bit images");
    }

    static String extension(Path p) {
        String n = p.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return dot > 0 ? n.substring(dot + 1).toLowerCase(Locale.ROOT) : "";
    }
}
